// backup-syncd's daemon: watch a repository's snapshots/ directory and run the sync command with
// what appeared and what went, reliably (see DESIGN.md, "Sync command").
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "syncd/event_listener.hpp"
#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

struct SyncdOptions {
    std::string client; // for logs and BACKUP_CLIENT
    fs::path watch_dir; // the repository's snapshots/ (local mode)
    // Listing mode: the repository on an rclone remote ("store:bucket/web1"), listed every
    // loop_delay; no inotify. rclone_config (when given) becomes rclone's RCLONE_CONFIG.
    std::string remote;
    std::string rclone_config;
    // Listing mode: a webhook for the store's bucket events here (loopback). An event that may
    // concern snapshots/ makes the next listing come at once, at most one a
    // event_listing_interval; the listing stays the only truth, a lost event waits for the next.
    std::optional<EventAddress> event_listen;
    std::chrono::milliseconds event_listing_interval{1000};
    fs::path state_dir;
    std::vector<std::string> command;            // the sync command; the two files are appended
    std::chrono::milliseconds loop_delay{60000}; // full listing at least this often (listing
                                                 // mode: every this often)
    std::chrono::milliseconds startup_delay{0};
    std::chrono::milliseconds settle{300}; // quiet time after a deletion before a run
    std::chrono::milliseconds retry_min{5000};
    std::chrono::milliseconds retry_max{600000};
    std::chrono::milliseconds timeout{6 * 3600 * 1000}; // a sync running longer is stopped
    std::chrono::milliseconds term_grace{10000};        // TERM, then KILL after this
};

// Runs the daemon until SIGTERM or SIGINT: returns after a clean stop. Logs one line per event on
// stdout. Errors that retrying cannot fix (bad options, an unreadable state file) are returned
// before the loop.
util::Expected<void> run_sync_daemon(const SyncdOptions& options);

} // namespace backup::core
