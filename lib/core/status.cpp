#include "core/status.hpp"

#include <algorithm>
#include <ctime>
#include <sys/stat.h>

#include "core/config.hpp"
#include "core/layout.hpp"
#include "core/syncd.hpp"

namespace backup::core {

using util::Json;

bool ServerStatus::healthy() const {
    return errors.empty() && std::all_of(clients.begin(), clients.end(),
                                         [](const ClientInfo& c) { return c.problems.empty(); });
}

std::optional<std::int64_t> parse_time(const Json& value) {
    if (value.is_number_integer()) {
        return value.get<std::int64_t>();
    }
    if (!value.is_string()) {
        return std::nullopt;
    }
    std::tm tm{};
    const std::string text = value.get<std::string>();
    const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) {
        return std::nullopt;
    }
    // Fractions of a second and the zone designator: only UTC ('Z') is written by our tools.
    while (*end == '.' || (*end >= '0' && *end <= '9')) {
        ++end;
    }
    if (*end != 'Z' && *end != '\0') {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(::timegm(&tm));
}

namespace {

std::optional<Json> read_optional_json(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return std::nullopt;
    }
    auto json = util::read_json_file(path.string());
    if (!json) {
        return std::nullopt;
    }
    return *json;
}

std::string human_duration(std::int64_t seconds) {
    if (seconds < 0) {
        seconds = 0;
    }
    if (seconds < 120) {
        return fmt::format("{}s", seconds);
    }
    if (seconds < 7200) {
        return fmt::format("{}m", seconds / 60);
    }
    if (seconds < 172800) {
        return fmt::format("{}h", seconds / 3600);
    }
    return fmt::format("{}d", seconds / 86400);
}

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.1f}{}", value, units[unit]);
}

void read_services(const ClientPaths& paths, ClientInfo& info) {
    auto add = [&](const std::string& name, const fs::path& dir) {
        ServiceInfo s;
        s.name = name;
        s.supervised = is_supervised(dir);
        if (auto st = read_supervise_status(dir)) {
            s.status = *st;
        }
        info.services.push_back(std::move(s));
    };
    add("client", paths.service);
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths.services, ec)) {
        dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
        add(d.filename().string(), d);
    }
}

void read_repository(const fs::path& repository, ClientInfo& info) {
    std::error_code ec;
    auto snapshots = repository / "snapshots";
    if (auto ids = list_snapshot_ids(snapshots)) {
        info.snapshots = ids->size();
        for (const auto& id : *ids) {
            struct stat st {};
            if (::stat((snapshots / id).c_str(), &st) == 0) {
                std::int64_t t = st.st_mtim.tv_sec;
                if (!info.newest_snapshot || t > *info.newest_snapshot) {
                    info.newest_snapshot = t;
                }
            }
        }
    }
    for (auto it = fs::recursive_directory_iterator(repository, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
            info.repository_bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
    }
}

void read_state(const fs::path& state, ClientInfo& info) {
    if (auto syncd = read_optional_json(state / "backup-syncd-status.json")) {
        info.last_sync = parse_time(syncd->value("last_success", Json()));
        info.sync_failures = syncd->value("consecutive_failures", std::int64_t{0});
        if (info.sync_failures > 0) {
            info.sync_error = syncd->value("last_result", Json()).is_string()
                                  ? (*syncd)["last_result"].get<std::string>()
                                  : "failed";
        }
        if ((*syncd)["watch_error"].is_string()) {
            info.sync_error = (*syncd)["watch_error"].get<std::string>();
        }
    }
    if (auto replicate = read_optional_json(state / "replicate-status.json")) {
        for (const auto& d : replicate->value("destinations", Json::array())) {
            DestinationInfo dest;
            dest.name = d.value("name", std::string("?"));
            dest.state = d.value("state", std::string("?"));
            dest.last_success = parse_time(d.value("last_success", Json()));
            dest.missing_snapshots = d.value("missing_snapshots", std::int64_t{0});
            if (d["error"].is_string()) {
                dest.error = d["error"].get<std::string>();
            }
            info.destinations.push_back(std::move(dest));
        }
    }
    // restic-audit writes audit-<label>.json per audited repository (the client's own and local
    // replicas); the newest run of any counts, findings add up.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(state, ec)) {
        std::string name = e.path().filename().string();
        if (!name.starts_with("audit-") || !name.ends_with(".json") ||
            name.ends_with(".state.json")) {
            continue;
        }
        auto audit = read_optional_json(e.path());
        if (!audit) {
            continue;
        }
        auto finished = parse_time(audit->value("finished", Json()));
        if (finished && (!info.last_audit || *finished > *info.last_audit)) {
            info.last_audit = finished;
        }
        info.audit_findings += static_cast<std::int64_t>(audit->value("findings", Json::array()).size());
        std::string result = audit->value("result", std::string());
        if (!result.empty() && result != "clean" && result != "ok") {
            info.audit_result = result;
        }
    }
}

void judge(std::int64_t now, ClientInfo& info) {
    if (info.enabled) {
        for (const auto& s : info.services) {
            if (!s.up()) {
                info.problems.push_back(fmt::format("service {} is down", s.name));
            }
        }
        std::int64_t limit = info.expected_interval_hours * 3600;
        if (!info.newest_snapshot) {
            info.stale = true;
            info.problems.push_back("no snapshot yet");
        } else if (now - *info.newest_snapshot > limit) {
            info.stale = true;
            info.problems.push_back(fmt::format("stale: newest snapshot {} old (expected every {}h)",
                                                human_duration(now - *info.newest_snapshot),
                                                info.expected_interval_hours));
        }
    }
    if (info.sync_failures > 0 || !info.sync_error.empty()) {
        info.problems.push_back(fmt::format("sync failing ({} failures): {}", info.sync_failures,
                                            info.sync_error));
    }
    for (const auto& d : info.destinations) {
        if (d.state != "ok") {
            info.problems.push_back(fmt::format("destination {} {}{}", d.name, d.state,
                                                d.error.empty() ? "" : ": " + d.error));
        }
    }
    if (info.audit_findings > 0) {
        info.problems.push_back(fmt::format("audit found {} problem(s)", info.audit_findings));
    } else if (!info.audit_result.empty()) {
        info.problems.push_back(fmt::format("audit: {}", info.audit_result));
    }
}

} // namespace

util::Expected<ServerStatus> collect_status(const fs::path& root, std::int64_t now) {
    ServerLayout layout(root);
    ServerStatus status;
    status.now = now;
    status.root = root;
    std::error_code ec;
    if (!fs::is_directory(layout.systems(), ec)) {
        return util::fail(util::ExitCode::permanent, "read {}: not a directory",
                          layout.systems().string());
    }
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(layout.systems(), ec)) {
        if (fs::exists(e.path() / "conf" / "client.yaml")) {
            dirs.push_back(e.path());
        }
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
        std::string host = dir.filename().string();
        auto paths = layout.client(host);
        auto config = load_client_config(paths.config_file.string());
        if (!config) {
            status.errors.push_back(config.error().message());
            continue;
        }
        ClientInfo info;
        info.host = host;
        info.kind = std::string(to_string(config->kind));
        info.topology = std::string(to_string(config->topology));
        info.expected_interval_hours = config->expected_interval_hours;
        info.enabled = fs::exists(fs::symlink_status(layout.enable_link(host), ec));
        read_services(paths, info);
        read_repository(config->repository, info);
        read_state(paths.state, info);
        judge(now, info);
        status.clients.push_back(std::move(info));
    }
    return status;
}

std::string render_status_table(const ServerStatus& status, bool color) {
    std::string out = fmt::format("{:<20} {:<7} {:<16} {:>9} {:>6} {:>9} {:<18} {:<10} {}\n",
                                  "CLIENT", "ENABLED", "SERVICES", "SNAPSHOTS", "NEWEST",
                                  "SIZE", "REPLICAS", "AUDIT", "PROBLEMS");
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
            services = fmt::format("up {}", human_duration(up_for.value_or(0)));
        } else {
            services = "down: ";
            for (std::size_t i = 0; i < down.size(); ++i) {
                services += (i == 0 ? "" : ",") + down[i];
            }
        }
        std::string replicas;
        for (const auto& d : c.destinations) {
            replicas += fmt::format("{}{}:{}", replicas.empty() ? "" : ",", d.name,
                                    d.state == "ok" ? (d.missing_snapshots == 0
                                                           ? std::string("ok")
                                                           : fmt::format("-{}", d.missing_snapshots))
                                                    : d.state);
        }
        std::string audit = c.last_audit ? (c.audit_findings > 0
                                                ? fmt::format("{} found", c.audit_findings)
                                                : human_duration(status.now - *c.last_audit))
                                         : "never";
        std::string problems;
        for (const auto& p : c.problems) {
            problems += (problems.empty() ? "" : "; ") + p;
        }
        std::string line = fmt::format(
            "{:<20} {:<7} {:<16} {:>9} {:>6} {:>9} {:<18} {:<10} {}", c.host,
            c.enabled ? "yes" : "no", services, c.snapshots,
            c.newest_snapshot ? human_duration(status.now - *c.newest_snapshot) : "never",
            human_bytes(c.repository_bytes), replicas.empty() ? "-" : replicas, audit,
            problems.empty() ? "ok" : problems);
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
                           {"last_sync", opt(c.last_sync)},
                           {"sync_failures", c.sync_failures},
                           {"destinations", dests},
                           {"last_audit", opt(c.last_audit)},
                           {"audit_findings", c.audit_findings},
                           {"problems", c.problems},
                           {"ok", c.problems.empty()}});
    }
    return {{"schema", k_status_schema},
            {"now", status.now},
            {"root", status.root.string()},
            {"healthy", status.healthy()},
            {"clients", clients},
            {"errors", status.errors}};
}

std::string render_prometheus(const ServerStatus& status) {
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    auto label = [](const ClientInfo& c) { return fmt::format("client=\"{}\"", c.host); };
    metric("restic_backup_client_enabled", "gauge", "1 when the client's link is in the scan dir.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_client_enabled{{{}}} {}\n", label(c), c.enabled ? 1 : 0);
    }
    metric("restic_backup_client_ok", "gauge", "1 when the client has no problem.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_client_ok{{{}}} {}\n", label(c), c.problems.empty() ? 1 : 0);
    }
    metric("restic_backup_stale", "gauge", "1 when the newest snapshot is older than expected.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_stale{{{}}} {}\n", label(c), c.stale ? 1 : 0);
    }
    metric("restic_backup_newest_snapshot_timestamp_seconds", "gauge",
           "Modification time of the newest snapshot file.");
    for (const auto& c : status.clients) {
        if (c.newest_snapshot) {
            out += fmt::format("restic_backup_newest_snapshot_timestamp_seconds{{{}}} {}\n",
                               label(c), *c.newest_snapshot);
        }
    }
    metric("restic_backup_snapshots", "gauge", "Snapshot files in the repository.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_snapshots{{{}}} {}\n", label(c), c.snapshots);
    }
    metric("restic_backup_repository_bytes", "gauge", "Disk used by the repository.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_repository_bytes{{{}}} {}\n", label(c),
                           c.repository_bytes);
    }
    metric("restic_backup_service_up", "gauge", "1 when the runit service runs.");
    for (const auto& c : status.clients) {
        for (const auto& s : c.services) {
            out += fmt::format("restic_backup_service_up{{{},service=\"{}\"}} {}\n", label(c),
                               s.name, s.up() ? 1 : 0);
        }
    }
    metric("restic_backup_sync_failures", "gauge", "Consecutive failed sync runs.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_sync_failures{{{}}} {}\n", label(c), c.sync_failures);
    }
    metric("restic_backup_destination_ok", "gauge", "1 when the last replication succeeded.");
    metric("restic_backup_destination_missing_snapshots", "gauge",
           "Snapshots at the source not yet at the destination.");
    for (const auto& c : status.clients) {
        for (const auto& d : c.destinations) {
            out += fmt::format("restic_backup_destination_ok{{{},destination=\"{}\"}} {}\n",
                               label(c), d.name, d.state == "ok" ? 1 : 0);
            out += fmt::format(
                "restic_backup_destination_missing_snapshots{{{},destination=\"{}\"}} {}\n",
                label(c), d.name, d.missing_snapshots);
        }
    }
    metric("restic_backup_audit_findings", "gauge", "Findings of the last audits.");
    for (const auto& c : status.clients) {
        out += fmt::format("restic_backup_audit_findings{{{}}} {}\n", label(c), c.audit_findings);
    }
    return out;
}

} // namespace backup::core
