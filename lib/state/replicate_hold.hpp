// A destination whose deletions are frozen (restic-replicate --hold-deletions DEST) until
// --release-deletions DEST: while the file exists, no run deletes anything there (copies go
// on). It is the whole record of the freeze: present means frozen.
//
// File: <state>/replicate/<destination name>.hold.json (0600, written atomically), JSON:
//   {"schema": 1, "destination": NAME, "since": TIME}
#pragma once

#include "util/error.hpp"
#include "util/json.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace backup::core {

inline constexpr int k_replicate_hold_schema = 1;

struct ReplicaHold {
    std::string destination;
    std::string since; // UTC ISO 8601: when it was frozen
};

// <state_dir>/replicate/<name>.hold.json
std::string replica_hold_path(const std::string& state_dir, std::string_view name);

util::Json replica_hold_to_json(const ReplicaHold& hold);
// Strict: every key, its type, "since" a time; another schema or a hold for another
// destination than expected_name is an error (100).
util::Expected<ReplicaHold> replica_hold_from_json(const util::Json& json, std::string_view what,
                                                   std::string_view expected_name);
// The hold at path; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<ReplicaHold>> read_replica_hold(const std::string& path,
                                                             std::string_view expected_name);
// Writes it atomically, mode 0600.
util::Expected<void> write_replica_hold(const std::string& path, const ReplicaHold& hold);
// Removes it (and fsyncs its directory); true when there was one.
util::Expected<bool> remove_replica_hold(const std::string& path);

} // namespace backup::core
