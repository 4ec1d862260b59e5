// backup-syncd: watch a repository's snapshots/ directory and run the sync command with what
// appeared and what went, reliably (see DESIGN.md, "Sync command").
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

using SnapshotIds = std::set<std::string>;

// The snapshot IDs in dir: regular files named by 64 lowercase hex characters; temp names and
// anything else are ignored. A missing or unreadable directory is an error, never "no
// snapshots".
util::Expected<SnapshotIds> list_snapshot_ids(const fs::path& dir);

struct SnapshotDiff {
    std::vector<std::string> appeared;
    std::vector<std::string> gone;
    bool empty() const { return appeared.empty() && gone.empty(); }
};
SnapshotDiff diff_snapshots(const SnapshotIds& synced, const SnapshotIds& current);

// Writes ids, each followed by a NUL byte (the original backup-syncd's file format).
util::Expected<void> write_id_file(const fs::path& path, const std::vector<std::string>& ids);
// Reads such a file back.
util::Expected<std::vector<std::string>> read_id_file(const fs::path& path);

// The delay before retry number `failures` (1 = first retry): min * 2^(failures-1), capped.
std::chrono::milliseconds retry_delay(int failures, std::chrono::milliseconds min,
                                      std::chrono::milliseconds max);

// What a successful sync covered, kept in STATE_DIR/backup-syncd.json (schema 1).
struct SyncState {
    bool initialized = false; // false: no state file yet (every snapshot counts as appeared)
    SnapshotIds synced;
};
util::Expected<SyncState> load_sync_state(const fs::path& state_dir);
util::Expected<void> save_sync_state(const fs::path& state_dir, const SyncState& state);

struct SyncdOptions {
    std::string client;                 // for logs and BACKUP_CLIENT
    fs::path watch_dir;                 // the repository's snapshots/
    fs::path state_dir;
    std::vector<std::string> command;   // the sync command; the two files are appended
    std::chrono::milliseconds loop_delay{60000};   // full listing at least this often
    std::chrono::milliseconds startup_delay{0};
    std::chrono::milliseconds settle{300};         // quiet time after a change before a run
    std::chrono::milliseconds retry_min{5000};
    std::chrono::milliseconds retry_max{600000};
    std::chrono::milliseconds timeout{6 * 3600 * 1000}; // a sync running longer is stopped
    std::chrono::milliseconds term_grace{10000};   // TERM, then KILL after this
};

// Runs the daemon until SIGTERM or SIGINT: returns 0 after a clean stop. Logs one line per
// event on stdout. Errors that retrying cannot fix (bad options) are returned before the loop.
util::Expected<int> run_sync_daemon(const SyncdOptions& options);

} // namespace backup::core
