#include "status/render.hpp"

#include <algorithm>

#include "util/prometheus.hpp"
#include "util/text.hpp"

namespace backup::core {

using util::Json;

namespace {

std::string duration_text(std::int64_t seconds) {
    return util::format_duration(std::chrono::seconds(seconds));
}

} // namespace

std::string render_status_table(const ServerStatus& status, bool color) {
    std::string out =
        fmt::format("{:<20} {:<7} {:<16} {:>9} {:>6} {:>9} {:<18} {:<10} {}\n", "CLIENT", "ENABLED",
                    "SERVICES", "SNAPSHOTS", "NEWEST", "SIZE", "REPLICAS", "AUDIT", "PROBLEMS");
    for (const auto& c : status.clients) {
        // All up: for how long (the shortest); else which are down.
        std::string services;
        std::vector<std::string> down;
        std::optional<std::int64_t> up_for;
        for (const auto& s : c.services) {
            if (!s.up()) {
                down.push_back(s.name == "client" ? "tree" : s.name);
            } else {
                std::int64_t t = status.now - s.status->since_unix;
                up_for = up_for ? std::min(*up_for, t) : t;
            }
        }
        if (!c.enabled && !up_for) {
            services = "disabled";
        } else if (down.empty()) {
            services = fmt::format("up {}", duration_text(up_for.value_or(0)));
        } else {
            services = "down: ";
            for (std::size_t i = 0; i < down.size(); ++i) {
                services += (i == 0 ? "" : ",") + down[i];
            }
        }
        std::string replicas;
        for (const auto& d : c.destinations) {
            replicas +=
                fmt::format("{}{}:{}", replicas.empty() ? "" : ",", d.name,
                            d.state == "ok" ? (d.missing_snapshots == 0
                                                   ? std::string("ok")
                                                   : fmt::format("-{}", d.missing_snapshots))
                                            : d.state);
        }
        std::string audit = c.last_audit
                                ? (c.audit_findings > 0 ? fmt::format("{} found", c.audit_findings)
                                                        : duration_text(status.now - *c.last_audit))
                                : "never";
        std::string problems;
        for (const auto& p : c.problems) {
            problems += (problems.empty() ? "" : "; ") + p;
        }
        std::string line = fmt::format(
            "{:<20} {:<7} {:<16} {:>9} {:>6} {:>9} {:<18} {:<10} {}", c.host,
            c.enabled ? "yes" : "no", services, c.snapshots,
            c.newest_snapshot ? duration_text(status.now - *c.newest_snapshot) : "never",
            c.quota
                ? fmt::format("{}/{}", util::format_size(c.quota_used), util::format_size(*c.quota))
                : util::format_size(c.repository_bytes),
            replicas.empty() ? "-" : replicas, audit, problems.empty() ? "ok" : problems);
        if (color && !c.problems.empty()) {
            line = (c.stale ? "\033[33m" : "\033[31m") + line + "\033[0m";
        }
        out += line + "\n";
    }
    for (const auto& e : status.errors) {
        out += fmt::format("error: {}\n", e);
    }
    return out;
}

Json status_to_json(const ServerStatus& status) {
    auto opt = [](const std::optional<std::int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
    Json clients = Json::array();
    for (const auto& c : status.clients) {
        Json services = Json::array();
        for (const auto& s : c.services) {
            services.push_back({{"name", s.name},
                                {"up", s.up()},
                                {"supervised", s.supervised},
                                {"pid", s.status ? Json(s.status->pid) : Json(nullptr)},
                                {"since", s.status ? Json(s.status->since_unix) : Json(nullptr)}});
        }
        Json dests = Json::array();
        for (const auto& d : c.destinations) {
            dests.push_back({{"name", d.name},
                             {"state", d.state},
                             {"last_success", opt(d.last_success)},
                             {"missing_snapshots", d.missing_snapshots},
                             {"error", d.error.empty() ? Json(nullptr) : Json(d.error)}});
        }
        clients.push_back({{"host", c.host},
                           {"kind", c.kind},
                           {"topology", c.topology},
                           {"enabled", c.enabled},
                           {"services", services},
                           {"snapshots", c.snapshots},
                           {"newest_snapshot", opt(c.newest_snapshot)},
                           {"expected_interval_hours", c.expected_interval_hours},
                           {"stale", c.stale},
                           {"repository_bytes", c.repository_bytes},
                           {"quota_bytes", c.quota ? Json(*c.quota) : Json(nullptr)},
                           {"quota_used_bytes", c.quota ? Json(c.quota_used) : Json(nullptr)},
                           {"append_only", c.append_only},
                           {"tls", c.tls},
                           {"certificate_expires", opt(c.certificate_expires)},
                           {"last_sync", opt(c.last_sync)},
                           {"sync_failures", c.sync_failures},
                           {"destinations", dests},
                           {"last_audit", opt(c.last_audit)},
                           {"audit_findings", c.audit_findings},
                           {"problems", c.problems},
                           {"ok", c.problems.empty()}});
    }
    return {{"schema", k_status_schema},   {"now", status.now},  {"root", status.root.string()},
            {"healthy", status.healthy()}, {"clients", clients}, {"errors", status.errors}};
}

std::string render_prometheus(const ServerStatus& status) {
    util::PrometheusText out;
    auto per_client = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& c : status.clients) {
            if (auto value = value_of(c)) {
                out.sample(name, {{"client", c.host}}, static_cast<std::int64_t>(*value));
            }
        }
    };
    using Value = std::optional<std::int64_t>;
    per_client("restic_backup_client_enabled", "1 when the client's link is in the scan dir.",
               [](const ClientInfo& c) { return Value(c.enabled ? 1 : 0); });
    per_client("restic_backup_client_ok", "1 when the client has no problem.",
               [](const ClientInfo& c) { return Value(c.problems.empty() ? 1 : 0); });
    per_client("restic_backup_stale", "1 when the newest snapshot is older than expected.",
               [](const ClientInfo& c) { return Value(c.stale ? 1 : 0); });
    per_client("restic_backup_newest_snapshot_timestamp_seconds",
               "Modification time of the newest snapshot file.",
               [](const ClientInfo& c) { return Value(c.newest_snapshot); });
    per_client("restic_backup_snapshots", "Snapshot files in the repository.",
               [](const ClientInfo& c) { return Value(static_cast<std::int64_t>(c.snapshots)); });
    per_client(
        "restic_backup_repository_bytes", "Disk used by the repository.",
        [](const ClientInfo& c) { return Value(static_cast<std::int64_t>(c.repository_bytes)); });
    out.family("restic_backup_service_up", "gauge", "1 when the runit service runs.");
    for (const auto& c : status.clients) {
        for (const auto& s : c.services) {
            out.sample("restic_backup_service_up", {{"client", c.host}, {"service", s.name}},
                       std::int64_t{s.up() ? 1 : 0});
        }
    }
    per_client("restic_backup_sync_failures", "Consecutive failed sync runs.",
               [](const ClientInfo& c) { return Value(c.sync_failures); });
    // Every sample of a family follows its own HELP and TYPE lines, as the format requires.
    auto per_destination = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& c : status.clients) {
            for (const auto& d : c.destinations) {
                out.sample(name, {{"client", c.host}, {"destination", d.name}},
                           static_cast<std::int64_t>(value_of(d)));
            }
        }
    };
    per_destination("restic_backup_destination_ok", "1 when the last replication succeeded.",
                    [](const DestinationInfo& d) { return d.state == "ok" ? 1 : 0; });
    per_destination("restic_backup_destination_missing_snapshots",
                    "Snapshots at the source not yet at the destination.",
                    [](const DestinationInfo& d) { return d.missing_snapshots; });
    per_client("restic_backup_audit_findings", "Findings of the last audits.",
               [](const ClientInfo& c) { return Value(c.audit_findings); });
    per_client("restic_backup_repository_quota_bytes", "The most the repository may hold.",
               [](const ClientInfo& c) {
                   return c.quota ? Value(static_cast<std::int64_t>(*c.quota)) : Value();
               });
    per_client("restic_backup_repository_quota_used_bytes",
               "What the storage server counts against the quota.", [](const ClientInfo& c) {
                   return c.quota ? Value(static_cast<std::int64_t>(c.quota_used)) : Value();
               });
    per_client("restic_backup_certificate_expiry_timestamp_seconds",
               "When the certificate of the client's storage server expires.",
               [](const ClientInfo& c) { return Value(c.certificate_expires); });
    return out.text();
}

} // namespace backup::core
