// What restic-wrapper's daily job leaves in its state directory for people and monitoring:
// status.json (schema-versioned, replaced atomically), the same as a Prometheus textfile, and
// the rotation of `check --read-data-subset` (check.json).
//
// status.json:
//   {"schema": 1, "host", "repository" (credentials removed),
//    "last_attempt": ATTEMPT, "last_success": ATTEMPT | null}
//   ATTEMPT: {"started", "finished" (null while running), "duration_seconds",
//             "result": "running" | "ok" | "findings" | "failed", "exit_code" (null while running),
//             "errors": [line], "warnings": [line], "snapshot_id" | null,
//             "summary": {files_new, files_changed, ..., data_added, ...} | null,
//             "unreadable": [{"path", "message"}], "check_subset": "n/t" | null,
//             "steps": [{"name", "exit_code" | null, "ended", "duration_seconds"}]}
// Times are UTC ISO 8601 ("2024-05-01T03:00:00Z"). last_success is the last attempt that ended
// with exit code 0; it moves only then.
#pragma once

#include "core/wrapper_restic.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

inline constexpr int k_wrapper_status_schema = 1;
inline constexpr int k_wrapper_check_schema = 1;

// Seconds since the epoch as "2024-05-01T03:00:00Z", and back (nullopt unless exactly that form).
std::string format_status_time(std::int64_t seconds);
std::optional<std::int64_t> parse_status_time(std::string_view text);

// A repository location without credentials: "rest:https://user:secret@host/x" becomes
// "rest:https://host/x".
std::string redact_repository(std::string_view location);

// One restic command or hook of a run.
struct StepRecord {
    std::string name;             // "backup", "hook before[0]", ...
    std::optional<int> exit_code; // nullopt when it did not exit (signal, timeout)
    std::string ended;            // "exited with status 0", "timed out and killed by ..."
    double duration_seconds = 0;
};

struct AttemptRecord {
    std::int64_t started = 0;
    std::optional<std::int64_t> finished; // nullopt while running
    double duration_seconds = 0;
    std::string result = "running"; // running, ok, findings, failed
    std::optional<int> exit_code;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    std::optional<std::string> snapshot_id;
    std::optional<util::Json> summary;
    std::vector<UnreadablePath> unreadable;
    std::optional<std::string> check_subset;
    std::vector<StepRecord> steps;
};

util::Json attempt_to_json(const AttemptRecord& attempt);

struct WrapperStatus {
    std::string host;
    std::string repository;
    AttemptRecord last_attempt;
    std::optional<util::Json> last_success; // an ATTEMPT object as written
};

util::Json status_to_json(const WrapperStatus& status);

// The last_success of the status file at path, to carry it over: nullopt when the file does not
// exist or has none. An unreadable file, a schema other than this version's or a malformed
// last_success is an error (100) naming the file.
util::Expected<std::optional<util::Json>> read_last_success(const std::string& path);

// The status for node_exporter's textfile collector, all gauges labelled host="...":
// restic_wrapper_last_attempt_timestamp_seconds (start),
// restic_wrapper_last_attempt_duration_seconds, restic_wrapper_last_exit_code (-1 while running),
// restic_wrapper_running, restic_wrapper_last_success_timestamp_seconds (end; absent before the
// first success), restic_wrapper_last_files_new, _files_changed, _data_added_bytes (of the last
// attempt's snapshot, when it made one), restic_wrapper_last_unreadable_files.
std::string render_wrapper_prometheus(const WrapperStatus& status);

// Where `check --read-data-subset n/t` stands: the subset n the next check reads, 1..subsets.
struct CheckRotation {
    int subsets = 1;
    int next = 1;
    bool operator==(const CheckRotation&) const = default;
};

// The rotation to use with subsets t: the saved one when it is for the same t, else a new cycle
// starting at 1.
CheckRotation current_check_rotation(const std::optional<CheckRotation>& saved, int subsets);
// After a check of rotation.next succeeded: the following subset, 1 after t.
CheckRotation advance_check_rotation(CheckRotation rotation);

// check.json: {"schema": 1, "read_data_subsets": t, "next": n}. Reading: nullopt when absent;
// an error (100) when malformed or of another schema.
util::Expected<std::optional<CheckRotation>> read_check_rotation(const std::string& path);
util::Expected<void> write_check_rotation(const std::string& path, const CheckRotation& rotation);

} // namespace backup::core
