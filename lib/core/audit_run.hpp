// restic-audit as a command: which repositories a request names (paths, one client, or every
// client under the server root), auditing each, and reporting: findings and errors on stderr,
// one line each; a summary per repository on stdout unless quiet; the exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit.hpp"
#include "core/layout.hpp"
#include "util/error.hpp"

namespace backup::core {

inline constexpr std::string_view k_audit_program = "restic-audit";

struct AuditRequest {
    std::vector<std::string> paths; // repository directories
    std::string client;             // a client host name; exclusive with paths
    fs::path root{std::string(k_default_root)};
    std::optional<fs::path> state_dir; // for paths only
    std::optional<int> fraction;       // N of 1/N; default: the client's, else 30
    bool all = false;
    int jobs = 1;
    std::optional<std::uint64_t> max_bytes;
    std::optional<std::chrono::seconds> max_seconds;
    std::chrono::seconds temporary_grace = k_default_temporary_grace;
    bool keep_cache = false; // leave what was read in the page cache (benchmarks)
    bool quiet = false;      // no summary lines on stdout
};

// The label of a bare path's files in a state directory: "path-<last component>-<the first 12
// hex digits of the SHA-256 of the absolute path>", so that one directory serves many paths.
std::string audit_label_for_path(const fs::path& absolute);

struct AuditTargets {
    std::vector<AuditTarget> targets;
    std::vector<std::string> notes;  // destinations that cannot be audited here
    std::vector<util::Error> errors; // clients whose configuration could not be read
};

// The repositories a request names. Paths: each directory, state in state_dir (when given).
// A client: its repository and its local destinations, state in the client's state/ directory,
// cycle length from its audit.fraction; rclone remotes are skipped with a note. Neither: every
// directory under <root>/systems/ with a conf/client.yaml, in name order. Usage errors (a bad
// host name, an unknown client, an unlistable root) are returned as the error.
util::Expected<AuditTargets> resolve_audit_targets(const AuditRequest& request);

// The number of CPUs this process may run on (at least 1): the default of --jobs.
int default_audit_jobs();

// The command line as given; audit_command checks the values.
struct AuditArguments {
    std::vector<std::string> paths;
    std::string client;
    std::string root{k_default_root};
    std::string state_dir;
    std::string fraction; // "1/N"
    bool all = false;
    int jobs = 0;                // 0: default_audit_jobs()
    std::string max_bytes;       // parse_audit_size
    std::string max_seconds;     // parse_audit_duration
    std::string temporary_grace; // parse_audit_duration
    bool keep_cache = false;
    bool quiet = false;
};

// Checks every value of arguments (all bad values reported together: util::Fatal, 100), then
// run_audit.
util::ExitCode audit_command(const AuditArguments& arguments);

// Runs restic-audit over the request and reports (see the file comment). The exit code is the
// worst of all repositories: 111 when something could not be read, else 100 for a permanent
// error, else 1 for findings, else 0. Throws util::Fatal on usage errors.
util::ExitCode run_audit(const AuditRequest& request);

} // namespace backup::core
