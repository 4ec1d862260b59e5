// The files backup-syncd hands to the sync command (compatible with the original backup-syncd):
// the snapshot ids that appeared, and those that went, each id followed by a NUL byte.
#pragma once

#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

// Writes ids (each must be a repository id) atomically, mode 0644.
util::Expected<void> write_snapshot_id_file(const std::string& path,
                                            const std::vector<std::string>& ids);

// Reads such a file. Errors: unreadable (111); an entry that is not a snapshot id or a last
// entry without its NUL byte (100).
util::Expected<std::vector<std::string>> read_snapshot_id_file(const std::string& path);

} // namespace backup::core
