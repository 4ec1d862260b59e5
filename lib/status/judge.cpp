// Judging what backup-status read: a problem for everything that needs a person, and nothing
// else. A client is ok only without problems; its state says what kind of attention it needs.
#include "status/collect.hpp"

#include <algorithm>

#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

std::string_view to_string(ProblemKind kind) {
    switch (kind) {
    case ProblemKind::config:
        return "config";
    case ProblemKind::state_file:
        return "state-file";
    case ProblemKind::repository:
        return "repository";
    case ProblemKind::service_down:
        return "service-down";
    case ProblemKind::instance_down:
        return "instance-down";
    case ProblemKind::stale:
        return "stale";
    case ProblemKind::sync_failing:
        return "sync-failing";
    case ProblemKind::destination_failing:
        return "destination-failing";
    case ProblemKind::destination_lagging:
        return "destination-lagging";
    case ProblemKind::audit_findings:
        return "audit-findings";
    case ProblemKind::audit_error:
        return "audit-error";
    case ProblemKind::held_deletion:
        return "held-deletion";
    case ProblemKind::certificate:
        return "certificate";
    case ProblemKind::quota:
        return "quota";
    case ProblemKind::disk_filling:
        return "disk-filling";
    case ProblemKind::notify:
        return "notify";
    }
    return "unknown";
}

std::string_view to_string(ClientState state) {
    switch (state) {
    case ClientState::ok:
        return "ok";
    case ClientState::fresh:
        return "new";
    case ClientState::disabled:
        return "disabled";
    case ClientState::stale:
        return "stale";
    case ClientState::failing:
        return "failing";
    case ClientState::error:
        return "error";
    }
    return "unknown";
}

std::optional<std::int64_t> ClientInfo::last_audit() const {
    std::optional<std::int64_t> last;
    for (const auto& a : audits) {
        if (a.finished && (!last || *a.finished > *last)) {
            last = a.finished;
        }
    }
    return last;
}

std::int64_t ClientInfo::audit_findings() const {
    std::int64_t n = 0;
    for (const auto& a : audits) {
        n += a.findings;
    }
    return n;
}

bool ServerStatus::healthy() const {
    auto ok = [](const auto& row) { return row.ok(); };
    return problems.empty() && std::all_of(clients.begin(), clients.end(), ok) &&
           std::all_of(instances.begin(), instances.end(), ok) &&
           std::all_of(filesystems.begin(), filesystems.end(), ok);
}

namespace {

std::string elapsed(std::int64_t now, std::int64_t then) {
    return util::format_duration(std::chrono::seconds(now - then));
}

// A remote primary's listing record is stale after this many poll intervals, plus the time one
// listing may take.
constexpr int k_listing_intervals = 3;
constexpr std::int64_t k_listing_grace_seconds = 120;

// Where an audit label points, in words: "the repository", "destination disk2".
std::string audited(const std::string& label) {
    if (label == "repository") {
        return "the repository";
    }
    if (label.starts_with("destination-")) {
        return "destination " + label.substr(std::string_view("destination-").size());
    }
    return label;
}

void judge_certificate(std::int64_t now, const std::string& file,
                       const std::optional<std::int64_t>& expires, const std::string& renew,
                       std::vector<Problem>& problems) {
    if (!expires || *expires - now >= k_certificate_warning.count()) {
        return;
    }
    std::int64_t left = *expires - now;
    problems.push_back(
        {ProblemKind::certificate, file,
         fmt::format("certificate {} {} ({}); renew it: new-restic-server --renew-certs{}", file,
                     left <= 0 ? std::string("has expired")
                               : "expires in " + util::format_duration(std::chrono::seconds(left)),
                     util::format_time(*expires), renew)});
}

void judge_freshness(std::int64_t now, ClientInfo& c) {
    std::int64_t limit = c.expected_interval_hours * 3600;
    if (c.newest_snapshot) {
        if (now - *c.newest_snapshot > limit) {
            c.problems.push_back(
                {ProblemKind::stale, "snapshots",
                 fmt::format("stale: newest snapshot {} old (expected every {}h)",
                             elapsed(now, *c.newest_snapshot), c.expected_interval_hours)});
        }
        return;
    }
    // A new client has its interval from provisioning for its first snapshot.
    if (!c.created || now - *c.created <= limit) {
        return;
    }
    c.problems.push_back(
        {ProblemKind::stale, "snapshots",
         c.initialised
             ? fmt::format("no snapshot in the {} since it was provisioned (expected every {}h)",
                           elapsed(now, *c.created), c.expected_interval_hours)
             : fmt::format("no repository {} after it was provisioned: run 'restic-wrapper init' "
                           "and '--daily' on {}",
                           elapsed(now, *c.created), c.host)});
}

// A remote primary's listing record must be there, good and recent: backup-syncd lists every
// poll interval (a failing listing rewrites it too), so one older than k_listing_intervals of
// them means it does not run or cannot write; what it says is then not the store's present.
void judge_listing(std::int64_t now, ClientInfo& c) {
    if (c.remote_repository.empty()) {
        return;
    }
    auto problem = [&](std::string message) {
        c.problems.push_back({ProblemKind::sync_failing, "listing", std::move(message)});
    };
    if (!c.listed) {
        return problem(fmt::format("backup-syncd has recorded no listing of {} (is it running?)",
                                   c.remote_repository));
    }
    if (!c.listing_error.empty()) {
        problem(fmt::format("listing {} failed: {}", c.remote_repository, c.listing_error));
    }
    std::int64_t limit =
        std::int64_t{k_listing_intervals} * c.poll_interval_seconds + k_listing_grace_seconds;
    if (now - *c.listed > limit) {
        problem(fmt::format("backup-syncd's last listing of {} is {} old (it lists every {} s): "
                            "is it running?",
                            c.remote_repository, elapsed(now, *c.listed), c.poll_interval_seconds));
    }
}

void judge_services(ClientInfo& c, const std::vector<InstanceInfo>& instances) {
    for (const auto& s : c.services) {
        if (!s.error.empty()) {
            c.problems.push_back({ProblemKind::service_down, s.name,
                                  fmt::format("service {}: {}", s.name, s.error)});
        } else if (!s.up()) {
            c.problems.push_back(
                {ProblemKind::service_down, s.name, fmt::format("service {} is down", s.name)});
        }
    }
    if (c.topology != "shared") {
        return;
    }
    auto it = std::find_if(instances.begin(), instances.end(),
                           [&](const InstanceInfo& i) { return i.kind == c.kind; });
    if (it == instances.end()) {
        c.problems.push_back({ProblemKind::instance_down, "shared " + c.kind,
                              fmt::format("the shared {} it is on does not exist", c.kind)});
    } else if (!it->enabled || !it->service.up()) {
        c.problems.push_back(
            {ProblemKind::instance_down, "shared " + c.kind,
             fmt::format("the shared {} it is on is {}", c.kind,
                         it->enabled ? "down" : "not linked in the scan directory")});
    }
}

void judge_replication(std::int64_t now, ClientInfo& c) {
    if (c.sync_failures > 0 || !c.sync_error.empty()) {
        c.problems.push_back({ProblemKind::sync_failing, "backup-syncd",
                              c.sync_failures > 0 ? fmt::format("sync failing ({} in a row): {}",
                                                                c.sync_failures, c.sync_error)
                                                  : fmt::format("sync failing: {}", c.sync_error)});
    }
    // backup-syncd writes its status when a sync starts, so a snapshot that arrived a while ago
    // and is newer than the status means it never saw it (not running, or unable to write).
    bool syncd = std::any_of(c.services.begin(), c.services.end(),
                             [](const ServiceInfo& s) { return s.name == "backup-syncd"; });
    if (syncd && !c.sync_running && c.newest_snapshot &&
        now - *c.newest_snapshot > k_sync_record_grace.count() &&
        (!c.sync_updated || *c.sync_updated < *c.newest_snapshot)) {
        c.problems.push_back(
            {ProblemKind::sync_failing, "backup-syncd",
             fmt::format("backup-syncd has not recorded the snapshot that arrived {} ago ({}); is "
                         "it running, and may it write its state directory?",
                         elapsed(now, *c.newest_snapshot),
                         c.sync_updated ? "its status is " + elapsed(now, *c.sync_updated) + " old"
                                        : "it has written no status")});
    }
    std::int64_t limit = c.expected_interval_hours * 3600;
    for (const auto& d : c.destinations) {
        if (d.state == "failed" || d.state == "incomplete") {
            c.problems.push_back({ProblemKind::destination_failing, d.name,
                                  fmt::format("destination {} {}{}", d.name, d.state,
                                              d.error.empty() ? "" : ": " + d.error)});
        } else if (!d.deletions_held.empty() || d.state == "deletion held") {
            c.problems.push_back(
                {ProblemKind::held_deletion, d.name,
                 fmt::format("destination {} holds its deletions: {}; if the source lost them "
                             "on purpose: restic-replicate --client {} --confirm-deletions {}",
                             d.name, d.deletions_held.empty() ? "held" : d.deletions_held, c.host,
                             d.name)});
        } else if (d.missing_snapshots > 0 && d.newest_missing && now - *d.newest_missing > limit) {
            c.problems.push_back(
                {ProblemKind::destination_lagging, d.name,
                 fmt::format("destination {} lacks {} snapshot(s), the newest of them for {}",
                             d.name, d.missing_snapshots, elapsed(now, *d.newest_missing))});
        }
    }
}

void judge_audits(ClientInfo& c) {
    for (const auto& a : c.audits) {
        if (a.findings > 0) {
            c.problems.push_back({ProblemKind::audit_findings, a.label,
                                  fmt::format("audit of {} found {} problem(s): {}",
                                              audited(a.label), a.findings, a.first_finding)});
        } else if (a.result == "error") {
            c.problems.push_back(
                {ProblemKind::audit_error, a.label,
                 fmt::format("audit of {} failed{}", audited(a.label),
                             a.first_finding.empty() ? "" : ": " + a.first_finding)});
        }
    }
}

void judge_client(std::int64_t now, const std::vector<InstanceInfo>& instances, ClientInfo& c) {
    if (c.state == ClientState::error) {
        return;
    }
    bool active = c.enabled && !c.access_disabled;
    if (!c.initialised && (c.snapshots_synced > 0 || c.last_sync)) {
        c.problems.push_back(
            {ProblemKind::repository, "repository",
             fmt::format("the repository {} is gone, though backup-syncd has synced {} "
                         "snapshot(s) of it (is its disk mounted?)",
                         c.repository.string(), c.snapshots_synced)});
    }
    // A disabled client's services and syncs are stopped on purpose; its repository, the only
    // copy of its backups, is still audited, and still has its quota.
    if (active) {
        judge_listing(now, c);
        judge_services(c, instances);
        judge_freshness(now, c);
        judge_replication(now, c);
        judge_certificate(now, c.certificate_file, c.certificate_expires, " -H " + c.host,
                          c.problems);
    }
    judge_audits(c);
    if (c.quota && c.quota_used * 10 >= *c.quota * 9) {
        c.problems.push_back(
            {ProblemKind::quota, "quota",
             fmt::format("the repository uses {} of its quota of {}; raise it: "
                         "new-restic-server -H {} --set-quota SIZE",
                         util::format_size(c.quota_used), util::format_size(*c.quota), c.host)});
    }
    bool only_stale = std::all_of(c.problems.begin(), c.problems.end(),
                                  [](const Problem& p) { return p.kind == ProblemKind::stale; });
    if (!c.problems.empty()) {
        c.state = only_stale ? ClientState::stale : ClientState::failing;
    } else if (!active) {
        c.state = ClientState::disabled;
    } else if (!c.initialised) {
        c.state = ClientState::fresh;
    } else {
        c.state = ClientState::ok;
    }
}

void judge_instance(std::int64_t now, InstanceInfo& i) {
    if (!i.enabled) {
        if (i.clients > 0) {
            i.problems.push_back(
                {ProblemKind::instance_down, i.service.name,
                 fmt::format("not linked in the scan directory, and {} client(s) use it",
                             i.clients)});
        }
    } else if (!i.service.error.empty()) {
        i.problems.push_back({ProblemKind::instance_down, i.service.name, i.service.error});
    } else if (!i.service.up()) {
        i.problems.push_back({ProblemKind::instance_down, i.service.name, "down"});
    }
    judge_certificate(now, i.certificate_file, i.certificate_expires, "", i.problems);
}

} // namespace

void judge_status(ServerStatus& status) {
    for (auto& i : status.instances) {
        judge_instance(status.now, i);
    }
    for (auto& c : status.clients) {
        judge_client(status.now, status.instances, c);
    }
}

} // namespace backup::core
