// One walk of a client's repository for backup-status: its sizes and its snapshots' times from
// the same listing, each directory opened once and every entry stat'ed relative to it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

struct RepositoryScan {
    bool initialised = false; // repository/config exists (followed if a symbolic link)
    // The regular files of snapshots/ named like repository ids, or why they could not be listed.
    util::Expected<std::size_t> snapshots = std::size_t{0};
    std::vector<std::int64_t> snapshot_times; // their mtimes (unix seconds), ascending
    // The blocks of every file that is not a directory (disk used), and the apparent size of the
    // repository's parent, the repository and everything below it (what rest-server counts
    // against a quota).
    std::uint64_t disk_bytes = 0;
    std::uint64_t apparent_bytes = 0;
    // "unable to read REPOSITORY: REASON" for the first directory that could not be opened or
    // listed; what could be read is still counted.
    std::optional<std::string> walk_error;
};

// Walks repository (symbolic links below it are not followed). Entries that vanish while it is
// walked are left out, never an error. A snapshots/ that is not a directory of the tree (missing,
// a symbolic link) is listed on its own, as list_snapshot_ids does.
RepositoryScan scan_repository(const std::filesystem::path& repository);

} // namespace backup::core
