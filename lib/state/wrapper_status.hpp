// What restic-wrapper's daily job leaves in its state directory for people and monitoring:
// status.json (schema-versioned, replaced atomically).
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
// Times are util/time's format. last_success is the last attempt that ended with exit code 0;
// it moves only then.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

inline constexpr int k_wrapper_status_schema = 1;
inline constexpr std::string_view k_wrapper_status_file = "status.json";

// A path restic could not read during `backup`; restic skipped it, the snapshot lacks it.
struct UnreadablePath {
    std::string path;
    std::string message;
};

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

util::Json wrapper_status_to_json(const WrapperStatus& status);
// Writes the status atomically, mode 0644.
util::Expected<void> write_wrapper_status(const std::string& path, const WrapperStatus& status);

// The last_success of the status file at path, to carry it over: nullopt when the file does not
// exist or has none. An unreadable file, a schema other than this version's or a malformed
// last_success is an error (100) naming the file.
util::Expected<std::optional<util::Json>> read_last_success(const std::string& path);
// The end of an ATTEMPT object as read_last_success returns it, in seconds since the epoch.
std::optional<std::int64_t> attempt_finished(const util::Json& attempt);

} // namespace backup::core
