// What backup-syncd tells monitoring (backup-status) about itself, rewritten on every change.
//
// File: <state>/backup-syncd-status.json, JSON, schema 2 (times are util/time's format; schema 1
// had unix seconds):
//   {"schema": 2, "client", "watchdir", "pid", "updated", "last_change_seen", "last_attempt",
//    "last_success", "last_result", "consecutive_failures", "running", "snapshots_synced",
//    "pending_appeared", "pending_gone", "watch_error", "state_error", "next_retry",
//    "events_received", "last_event"}
// Times and texts that do not apply yet are null. events_received (bucket events answered by
// --event-listen since the daemon started) and last_event came later within schema 2: a file
// without them reads as 0 and null.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_syncd_status_schema = 2;
inline constexpr std::string_view k_syncd_status_file = "backup-syncd-status.json";

struct SyncStatus {
    std::string client;
    std::string watchdir;
    std::int64_t pid = 0;
    std::string updated;
    std::optional<std::string> last_change_seen;
    std::optional<std::string> last_attempt;
    std::optional<std::string> last_success;
    std::optional<std::string> last_result; // "ok", "exited with status 1", ...
    std::int64_t consecutive_failures = 0;
    bool running = false;
    std::int64_t snapshots_synced = 0;
    std::int64_t pending_appeared = 0;
    std::int64_t pending_gone = 0;
    std::optional<std::string> watch_error; // the snapshots directory cannot be listed
    std::optional<std::string> state_error; // the state directory cannot be written
    std::optional<std::string> next_retry;
    std::int64_t events_received = 0;
    std::optional<std::string> last_event;
};

std::filesystem::path sync_status_path(const std::filesystem::path& state_dir);
// The status in state_dir; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<SyncStatus>> read_sync_status(const std::filesystem::path& state_dir);
// Writes it atomically, mode 0644.
util::Expected<void> write_sync_status(const std::filesystem::path& state_dir,
                                       const SyncStatus& status);

} // namespace backup::core
