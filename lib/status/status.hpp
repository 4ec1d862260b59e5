// backup-status: the whole server at a glance, from small state files, runit's supervise/status
// and directory listings only; never the repository data, never a password.
//
// What it reports, and when it says "ok": every client is in one state (ClientState); a client
// is ok only when nothing about it needs a person. Shared storage server instances and the
// filesystems the repositories are on have rows of their own. Each problem has a kind, so that
// monitoring and --notify can tell a stale client from a failing one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/defaults.hpp"
#include "model/runit.hpp"
#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

inline constexpr int k_status_schema = 2;
// The name of a client's own runsvdir service (conf/runsvdir) in every output.
inline constexpr std::string_view k_client_service_name = "runsvdir";

// What a problem is about. Freshness problems (stale) make a client stale; every other kind makes
// it failing.
enum class ProblemKind {
    config,              // client.yaml (or a shared instance's shared.yaml) cannot be read
    state_file,          // a state file of a tool cannot be read
    repository,          // the repository's directories cannot be read
    service_down,        // one of the client's runit services is not up
    instance_down,       // the shared storage server instance it is on is not up
    stale,               // no snapshot within the expected interval (or none since provisioning)
    sync_failing,        // backup-syncd's syncs fail, or it cannot watch the repository
    destination_failing, // the last replication to a destination failed
    destination_lagging, // a destination misses snapshots for longer than the expected interval
    audit_findings,      // restic-audit found damaged, missing or stray files
    audit_error,         // restic-audit could not do its work
    held_deletion,       // a replica keeps what the source deleted, waiting for a decision
    certificate,         // a storage server's certificate expires soon, expired, or is unreadable
    quota,               // the repository uses most of its quota
    disk_filling,        // a filesystem fills within the warning time at its rate
    notify,              // --notify could not deliver to a target (it is retried next run)
};
std::string_view to_string(ProblemKind kind);

struct Problem {
    ProblemKind kind;
    std::string subject; // what it is about within its row: a service, destination, repository
    std::string message; // one line for people
};

enum class ClientState {
    ok,       // nothing needs a person
    fresh,    // provisioned, its repository not made yet (restic init), within its interval
    disabled, // not linked in the scan dir, or its access on a shared instance is disabled
    stale,    // only freshness problems
    failing,  // any other problem
    error,    // its client.yaml cannot be read: nothing else is known
};
std::string_view to_string(ClientState state);

struct ServiceInfo {
    std::string name;                      // "runsvdir" (the client's own), "versitygw", ...
    bool supervised = false;               // a runsv runs for it
    std::string error;                     // whether it is supervised could not be told
    std::optional<SuperviseStatus> status; // when supervise/status could be read
    bool up() const { return supervised && status && status->state == ServiceState::run; }
};

struct DestinationInfo {
    // Not an aggregate, so that {name, state, last_success} stays the short form.
    DestinationInfo(std::string name_ = {}, std::string state_ = {},
                    std::optional<std::int64_t> last_success_ = {})
        : name(std::move(name_)), state(std::move(state_)), last_success(last_success_) {}

    std::string name;
    // replicate's state ("ok", "incomplete", "failed"), or "never" when restic-replicate has not
    // run for it yet (added to client.yaml since).
    std::string state;
    std::optional<std::int64_t> last_success; // unix seconds
    std::int64_t missing_snapshots = 0;
    std::optional<std::int64_t> newest_missing; // when the newest one it misses arrived
    std::string error;
    // Retention (restic-replicate's keep_deleted): as client.yaml sets it, and what its last run
    // left pending, held (why, when a run held due deletions for a person) or frozen.
    std::string keep_deleted = "forever";
    std::size_t pending_deletions = 0;
    std::uint64_t pending_deletion_bytes = 0;
    std::optional<std::int64_t> next_deletion_due;
    std::string deletions_held;
    bool deletions_frozen = false;
    std::optional<std::int64_t> last_deletion;
};

// One repository's audit (the client's own, or a local replica's): restic-audit's last run.
struct AuditInfo {
    std::string label;  // "repository", "destination-disk2", ...
    std::string result; // clean, findings, error
    std::string mode;   // rotation (a slot of the cycle), all (a full pass)
    std::optional<std::int64_t> finished;
    std::int64_t findings = 0;
    std::string first_finding; // "data/ab/ab12...: corrupt", for the problem's message
    int cycle_length = 1;      // files are hashed over this many runs
    int position = 0;          // runs of the current cycle done
    std::optional<std::int64_t> last_full_coverage; // when a whole cycle last finished
};

struct ClientInfo {
    std::string host;
    std::string kind;
    std::string topology;
    ClientState state = ClientState::ok;
    bool enabled = false;         // its link is in the scan dir
    bool access_disabled = false; // a shared client's --disable
    bool initialised = false;     // the repository's config file exists
    std::optional<std::int64_t> created;
    std::vector<ServiceInfo> services;
    std::size_t snapshots = 0;
    std::optional<std::int64_t> newest_snapshot; // mtime, unix seconds
    std::vector<std::int64_t> snapshot_times;    // every snapshot file's mtime, ascending
    std::int64_t expected_interval_hours = k_default_expected_interval_hours;
    fs::path repository;
    std::uint64_t repository_bytes = 0;       // disk used
    std::optional<std::int64_t> last_sync;    // backup-syncd's last success
    std::optional<std::int64_t> sync_updated; // when backup-syncd last wrote its status
    bool sync_running = false;                // its status says a sync is running
    std::int64_t snapshots_synced = 0;        // what backup-syncd has seen of the repository
    std::int64_t sync_failures = 0;
    std::string sync_error;
    std::vector<DestinationInfo> destinations;
    std::vector<AuditInfo> audits;
    bool tls = false;
    std::string certificate_file;                    // its dedicated storage server's certificate
    std::optional<std::int64_t> certificate_expires; // its notAfter, unix seconds
    bool append_only = false;                        // a dedicated rest-server's limits
    std::optional<std::uint64_t> quota;
    std::uint64_t quota_used = 0;               // what rest-server counts against the quota
    std::optional<double> growth_bytes_per_day; // over the last 30 days' samples
    std::vector<Problem> problems;              // empty: all is well
    // A remote primary: snapshots, their times and sizes from backup-syncd's last listing
    // (state/remote_listing.hpp), which must be recent (a few poll intervals) and good.
    std::string remote_repository;
    int poll_interval_seconds = 0;
    std::optional<std::int64_t> listed; // when backup-syncd last listed it
    std::string listing_error;          // that listing failed: why
    std::uint64_t snapshot_bytes = 0;   // the snapshot objects' sizes, summed

    bool ok() const { return problems.empty(); }
    bool stale() const { return state == ClientState::stale; }
    std::optional<std::int64_t> last_audit() const;
    std::int64_t audit_findings() const;
};

// A shared storage server instance (ROOT/shared/KIND).
struct InstanceInfo {
    std::string kind;
    bool enabled = false; // its link (_shared-KIND) is in the scan dir
    ServiceInfo service;
    int port = 0;
    std::size_t clients = 0; // shared clients of this kind
    bool tls = false;
    std::string certificate_file;
    std::optional<std::int64_t> certificate_expires;
    std::vector<Problem> problems;
    bool ok() const { return problems.empty(); }
};

// A filesystem holding repositories, with what backup-status has sampled of it day by day.
struct FilesystemInfo {
    std::string path; // its mount point
    std::uint64_t size_bytes = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t free_bytes = 0;               // available to unprivileged writers
    std::vector<std::string> clients;           // whose repositories are on it
    std::optional<double> growth_bytes_per_day; // of what is used, over the last 30 days
    std::optional<std::int64_t> full_by;        // at that rate (unix seconds)
    std::vector<Problem> problems;
    bool ok() const { return problems.empty(); }
};

struct ServerStatus {
    std::int64_t now = 0;
    fs::path root;
    std::vector<ClientInfo> clients;
    std::vector<InstanceInfo> instances;
    std::vector<FilesystemInfo> filesystems;
    std::vector<Problem> problems; // about none of the rows (its own state files)
    // Today's capacity sample was written (a caller who may not write ROOT/status only reads).
    bool capacity_recorded = false;
    bool healthy() const;
};

// Reads every client under root/systems (its configuration, services, snapshots and the state
// files of its tools, each through its module under state/), the shared instances and the
// filesystems, and judges them. A file that cannot be read or is of another schema is a problem
// of its row, never a missing row. now is unix seconds (for tests).
util::Expected<ServerStatus> collect_status(const fs::path& root, std::int64_t now);

} // namespace backup::core
