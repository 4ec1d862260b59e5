// backup-syncd's state: the snapshots the last successful sync covered, so that snapshots made
// while the daemon was down are synced after a restart and none twice.
//
// File: <state>/backup-syncd.json, JSON: {"schema": 1, "synced": [id...]}
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_syncd_state_schema = 1;
inline constexpr std::string_view k_syncd_state_file = "backup-syncd.json";

using SnapshotIds = std::set<std::string>;

struct SyncState {
    bool initialized = false; // false: no state file yet (every snapshot counts as appeared)
    SnapshotIds synced;
};

// The state in state_dir; an uninitialized one when there is no file. Unreadable: 111; invalid
// (another schema, an entry that is not a snapshot id): 100.
util::Expected<SyncState> read_sync_state(const std::filesystem::path& state_dir);
// Writes it atomically, mode 0644.
util::Expected<void> write_sync_state(const std::filesystem::path& state_dir,
                                      const SyncState& state);

} // namespace backup::core
