// backup-status: the whole server at a glance, from small state files, runit's supervise/status
// and directory listings only; never the repository data, never a password.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/runit.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

namespace fs = std::filesystem;

inline constexpr int k_status_schema = 1;

struct ServiceInfo {
    std::string name;                        // "client" (its runsvdir), "versitygw", ...
    bool supervised = false;                 // a runsv runs for it
    std::optional<SuperviseStatus> status;   // when supervise/status could be read
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
    std::optional<std::int64_t> newest_snapshot;  // mtime, unix seconds
    std::int64_t expected_interval_hours = 26;
    std::uint64_t repository_bytes = 0;           // disk used
    std::optional<std::int64_t> last_sync;        // backup-syncd's last success
    std::int64_t sync_failures = 0;
    std::string sync_error;
    std::vector<DestinationInfo> destinations;
    std::optional<std::int64_t> last_audit;       // finished, unix seconds
    std::int64_t audit_findings = 0;
    std::string audit_result;
    bool stale = false;
    std::vector<std::string> problems;            // empty: all is well
};

struct ServerStatus {
    std::int64_t now = 0;
    fs::path root;
    std::vector<ClientInfo> clients;
    std::vector<std::string> errors; // clients whose config could not be read
    bool healthy() const;
};

// Reads every client under root/systems. now is unix seconds (for tests).
util::Expected<ServerStatus> collect_status(const fs::path& root, std::int64_t now);

// A table for people; color marks stale and failing rows (only for a terminal).
std::string render_status_table(const ServerStatus& status, bool color);
util::Json status_to_json(const ServerStatus& status);
// node_exporter textfile collector format.
std::string render_prometheus(const ServerStatus& status);

// "2026-11-28T10:00:00Z" or a number of seconds: unix seconds; nullopt for anything else.
std::optional<std::int64_t> parse_time(const util::Json& value);

} // namespace backup::core
