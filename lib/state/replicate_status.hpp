// What restic-replicate's last run did, for people and backup-status.
//
// File: <state>/replicate-status.json, JSON, schema 1:
//   {"schema": 1, "client" | null, "source", "started", "finished", "duration_seconds",
//    "exit_code", "source_files", "source_snapshots", "corrupt_files": [path],
//    "unreadable_files": [path], "destinations": [DESTINATION]}
//   DESTINATION: {"name", "kind": "local" | "rclone", "target", "state": "ok" | "incomplete" |
//    "failed", "error" | null, "error_code" | null, "listed" (why it was listed) | null,
//    "copied": {PHASE: {"files", "bytes"}}, "files_copied", "bytes_copied", "already_there",
//    "vanished", "not_sent", "differing", "missing_files", "missing_snapshots",
//    "newest_missing_snapshot": {"id", "time"} | null, "last_attempt", "last_success" | null,
//    "retention": RETENTION}; "state" may also be "deletion held" (copies done, deletions
//    waiting for a person).
//   RETENTION: {"keep_deleted": "forever" | DURATION, "deleted": {PHASE: {"files", "bytes"}},
//    "files_deleted", "bytes_deleted", "pending_files", "pending_bytes", "next_due": TIME | null,
//    "held": why due deletions were held | null, "frozen": bool, "last_deletion": TIME | null}.
//    Files of earlier versions have no "retention": it reads as nullopt.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/repository.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

inline constexpr int k_replicate_status_schema = 1;
inline constexpr std::string_view k_replicate_status_file = "replicate-status.json";

struct PhaseCount {
    std::size_t files = 0;
    std::uint64_t bytes = 0;
};

struct MissingSnapshot {
    std::string id;
    std::string time; // when its file arrived at the source
};

// A destination's retention after a run (keep_deleted; replicate/retention.hpp).
struct RetentionStatus {
    std::string keep_deleted = "forever";
    std::array<PhaseCount, k_replicate_phase_count> deleted{}; // by this run
    std::size_t pending_files = 0; // copied files gone from the source, not deleted yet
    std::uint64_t pending_bytes = 0;
    std::optional<std::string> next_due;      // when the earliest pending deletion falls due
    std::optional<std::string> held;          // why due deletions were held this run
    bool frozen = false;                      // restic-replicate --hold-deletions
    std::optional<std::string> last_deletion; // the last run that deleted something there

    std::size_t files_deleted() const;
    std::uint64_t bytes_deleted() const;
};

struct DestinationStatus {
    std::string name;
    std::string kind;
    std::string target;
    std::string state; // ok, incomplete, failed
    std::optional<std::string> error;
    std::optional<int> error_code;
    std::optional<std::string> listed;
    std::array<PhaseCount, k_replicate_phase_count> copied{};
    std::size_t already_there = 0;
    std::size_t vanished = 0;
    std::size_t not_sent = 0;
    std::size_t differing = 0;
    std::size_t missing_files = 0;
    std::size_t missing_snapshots = 0;
    std::optional<MissingSnapshot> newest_missing_snapshot;
    std::string last_attempt;
    std::optional<std::string> last_success;
    std::optional<RetentionStatus> retention;

    std::size_t files_copied() const;
    std::uint64_t bytes_copied() const;
};

struct ReplicateStatus {
    std::optional<std::string> client;
    std::string source;
    std::string started;
    std::string finished;
    double duration_seconds = 0;
    int exit_code = 0;
    std::size_t source_files = 0;
    std::size_t source_snapshots = 0;
    std::vector<std::string> corrupt_files;
    std::vector<std::string> unreadable_files;
    std::vector<DestinationStatus> destinations;
};

std::filesystem::path replicate_status_path(const std::filesystem::path& state_dir);
util::Json replicate_status_to_json(const ReplicateStatus& status);
// Strict (every key, its type); what names the file in messages.
util::Expected<ReplicateStatus> replicate_status_from_json(const util::Json& json,
                                                           std::string_view what);
// The status in state_dir; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<ReplicateStatus>>
read_replicate_status(const std::filesystem::path& state_dir);
// Writes it atomically, mode 0644.
util::Expected<void> write_replicate_status(const std::filesystem::path& state_dir,
                                            const ReplicateStatus& status);

} // namespace backup::core
