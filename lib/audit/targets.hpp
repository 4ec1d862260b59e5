// Which repositories a restic-audit run covers: the paths given, one client, or every client
// under the server root (their repositories and local destinations).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit.hpp"
#include "model/defaults.hpp"
#include "util/error.hpp"

namespace backup::core {

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
// cycle length from its audit.fraction; a remote primary (remote_repository) is read through
// rclone with the client's secrets/rclone.conf; rclone destinations are skipped with a note.
// Neither: every directory under <root>/systems/ with a conf/client.yaml, in name order. Usage
// errors (a bad host name, an unknown client, an unlistable root) are returned as the error.
util::Expected<AuditTargets> resolve_audit_targets(const AuditRequest& request);

} // namespace backup::core
