// backup-status: the whole server at a glance, from small state files, runit's supervise/status
// and directory listings only; never the repository data, never a password.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/defaults.hpp"
#include "model/runit.hpp"
#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

inline constexpr int k_status_schema = 1;

struct ServiceInfo {
    std::string name;                      // "client" (its runsvdir), "versitygw", ...
    bool supervised = false;               // a runsv runs for it
    std::string error;                     // whether it is supervised could not be told
    std::optional<SuperviseStatus> status; // when supervise/status could be read
    bool up() const { return supervised && status && status->state == ServiceState::run; }
};

struct DestinationInfo {
    std::string name;
    std::string state;                        // replicate's state ("ok", "failed", ...)
    std::optional<std::int64_t> last_success; // unix seconds
    std::int64_t missing_snapshots = 0;
    std::string error;
};

struct ClientInfo {
    std::string host;
    std::string kind;
    std::string topology;
    bool enabled = false;
    std::vector<ServiceInfo> services;
    std::size_t snapshots = 0;
    std::optional<std::int64_t> newest_snapshot; // mtime, unix seconds
    std::int64_t expected_interval_hours = k_default_expected_interval_hours;
    std::uint64_t repository_bytes = 0;    // disk used
    std::optional<std::int64_t> last_sync; // backup-syncd's last success
    std::int64_t sync_failures = 0;
    std::string sync_error;
    std::vector<DestinationInfo> destinations;
    std::optional<std::int64_t> last_audit; // finished, unix seconds
    std::int64_t audit_findings = 0;
    std::string audit_result;
    std::vector<std::string> state_errors; // state files that could not be read
    bool tls = false;
    std::string certificate_file;                    // the storage server's certificate
    std::optional<std::int64_t> certificate_expires; // its notAfter, unix seconds
    std::string certificate_error;                   // it could not be read
    bool append_only = false;                        // a dedicated rest-server's limits
    std::optional<std::uint64_t> quota;
    std::uint64_t quota_used = 0; // what rest-server counts against the quota
    bool stale = false;
    std::vector<std::string> problems; // empty: all is well
};

struct ServerStatus {
    std::int64_t now = 0;
    fs::path root;
    std::vector<ClientInfo> clients;
    std::vector<std::string> errors; // clients whose config could not be read
    bool healthy() const;
};

// Reads every client under root/systems: its configuration, services, snapshots and the state
// files of its tools (each through its module under state/). A file that cannot be read or is of
// another schema is a problem of that client, never skipped. now is unix seconds (for tests).
util::Expected<ServerStatus> collect_status(const fs::path& root, std::int64_t now);

} // namespace backup::core
