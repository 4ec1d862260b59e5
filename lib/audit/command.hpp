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

#include "audit/targets.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

// "1/N" with N from 1 to k_max_audit_fraction: N. Anything else is an error (100) naming option.
util::Expected<int> parse_audit_fraction(std::string_view text,
                                         std::string_view option = "--fraction");
// A number of bytes, optionally with a suffix K, M, G or T (powers of 1024): "500M", "2G".
util::Expected<std::uint64_t> parse_audit_size(std::string_view text,
                                               std::string_view option = "--max-bytes");
// A duration in seconds, optionally with a suffix s, m, h or d: "90", "30m", "1d".
util::Expected<std::chrono::seconds> parse_audit_duration(std::string_view text,
                                                          std::string_view option);

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

// Declares restic-audit's options on app, each stored in arguments.
void add_restic_audit_options(CLI::App& app, AuditArguments& arguments);

// Checks every value of arguments (all bad values reported together: util::Fatal, 100), then
// run_audit.
util::ExitCode audit_command(const AuditArguments& arguments);

// Runs restic-audit over the request and reports (see the file comment). The exit code is the
// worst of all repositories: 111 when something could not be read, else 100 for a permanent
// error, else 1 for findings, else 0. Throws util::Fatal on usage errors.
util::ExitCode run_audit(const AuditRequest& request);

} // namespace backup::core
