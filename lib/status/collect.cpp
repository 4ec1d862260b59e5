#include "status/status.hpp"

#include <algorithm>
#include <sys/stat.h>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "model/shared.hpp"
#include "state/audit_status.hpp"
#include "state/replicate_status.hpp"
#include "state/syncd_status.hpp"
#include "util/dir.hpp"
#include "util/text.hpp"
#include "util/time.hpp"
#include "util/tls.hpp"

namespace backup::core {

bool ServerStatus::healthy() const {
    return errors.empty() && std::all_of(clients.begin(), clients.end(),
                                         [](const ClientInfo& c) { return c.problems.empty(); });
}

namespace {

std::optional<std::int64_t> unix_time(const std::optional<std::string>& text) {
    return text ? util::parse_unix_time(*text) : std::nullopt;
}

ServiceInfo read_service(const std::string& name, const fs::path& dir) {
    ServiceInfo s;
    s.name = name;
    if (auto supervised = is_supervised(dir)) {
        s.supervised = *supervised;
    } else {
        s.error = supervised.error().message();
    }
    if (auto st = read_supervise_status(dir)) {
        s.status = *st;
    }
    return s;
}

void read_services(const ClientPaths& paths, ClientInfo& info) {
    info.services.push_back(read_service("client", paths.service));
    auto entries = util::read_directory(paths.services.string(), util::IfMissing::empty);
    for (const auto& e : entries.value_or(std::vector<util::DirEntry>{})) {
        info.services.push_back(read_service(e.name, paths.services / e.name));
    }
}

void read_repository(const fs::path& repository, ClientInfo& info) {
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
    // rest-server's quota counts what its data directory's walk sees: the size of every file and
    // directory (256 data directories of 4 KiB are 1 MiB of it), not the blocks on disk.
    std::uint64_t apparent = 0;
    for (const auto& dir : {repository.parent_path(), repository}) {
        struct stat st {};
        if (::lstat(dir.c_str(), &st) == 0) {
            apparent += static_cast<std::uint64_t>(st.st_size);
        }
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(repository, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) {
            continue;
        }
        apparent += static_cast<std::uint64_t>(st.st_size);
        if (!S_ISDIR(st.st_mode)) {
            info.repository_bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
    }
    if (info.quota) {
        info.quota_used = apparent;
    }
}

void read_sync(const fs::path& state, ClientInfo& info) {
    auto read = read_sync_status(state);
    if (!read) {
        info.state_errors.push_back(read.error().message());
        return;
    }
    if (!*read) {
        return;
    }
    const SyncStatus& syncd = **read;
    info.last_sync = unix_time(syncd.last_success);
    info.sync_failures = syncd.consecutive_failures;
    if (info.sync_failures > 0) {
        info.sync_error = syncd.last_result.value_or("failed");
    }
    if (syncd.watch_error) {
        info.sync_error = *syncd.watch_error;
    }
}

void read_replication(const fs::path& state, ClientInfo& info) {
    auto read = read_replicate_status(state);
    if (!read) {
        info.state_errors.push_back(read.error().message());
        return;
    }
    if (!*read) {
        return;
    }
    for (const auto& d : (*read)->destinations) {
        DestinationInfo dest;
        dest.name = d.name;
        dest.state = d.state;
        dest.last_success = unix_time(d.last_success);
        dest.missing_snapshots = static_cast<std::int64_t>(d.missing_snapshots);
        dest.error = d.error.value_or("");
        info.destinations.push_back(std::move(dest));
    }
}

// restic-audit writes audit-<label>.json per audited repository (the client's own and local
// replicas); the newest run of any counts, findings add up.
void read_audits(const fs::path& state, ClientInfo& info) {
    auto labels = audit_status_labels(state);
    if (!labels) {
        info.state_errors.push_back(labels.error().message());
        return;
    }
    for (const auto& label : *labels) {
        auto read = read_audit_status(state, label);
        if (!read) {
            info.state_errors.push_back(read.error().message());
            continue;
        }
        if (!*read) {
            continue;
        }
        const AuditStatus& audit = **read;
        auto finished = util::parse_unix_time(audit.finished);
        if (finished && (!info.last_audit || *finished > *info.last_audit)) {
            info.last_audit = finished;
        }
        info.audit_findings += static_cast<std::int64_t>(audit.findings.size());
        if (audit.result != "clean") {
            info.audit_result = audit.result;
        }
    }
}

void judge_freshness(std::int64_t now, ClientInfo& info) {
    for (const auto& s : info.services) {
        if (!s.error.empty()) {
            info.problems.push_back(fmt::format("service {}: {}", s.name, s.error));
        } else if (!s.up()) {
            info.problems.push_back(fmt::format("service {} is down", s.name));
        }
    }
    std::int64_t limit = info.expected_interval_hours * 3600;
    if (!info.newest_snapshot) {
        info.stale = true;
        info.problems.push_back("no snapshot yet");
    } else if (now - *info.newest_snapshot > limit) {
        info.stale = true;
        info.problems.push_back(
            fmt::format("stale: newest snapshot {} old (expected every {}h)",
                        util::format_duration(std::chrono::seconds(now - *info.newest_snapshot)),
                        info.expected_interval_hours));
    }
}

// The certificate of the storage server the client talks to: its own, or its shared instance's.
void read_certificate(const ServerLayout& layout, const ClientConfig& config, ClientInfo& info) {
    info.tls = config.tls;
    if (!config.tls) {
        return;
    }
    info.certificate_file =
        (config.topology == Topology::shared ? shared_paths(layout, config.kind).certificate
                                             : layout.client(config.host).certificate)
            .string();
    auto cert = util::read_certificate_file(info.certificate_file);
    if (cert) {
        info.certificate_expires = cert->not_after;
    } else {
        info.certificate_error = cert.error().message();
    }
}

void judge_certificate(std::int64_t now, ClientInfo& info) {
    if (!info.certificate_error.empty()) {
        info.problems.push_back(info.certificate_error);
    } else if (info.certificate_expires &&
               *info.certificate_expires - now < k_certificate_warning.count()) {
        std::int64_t left = *info.certificate_expires - now;
        info.problems.push_back(fmt::format(
            "certificate {} {} ({}); renew it: new-restic-server --renew-certs -H {}",
            info.certificate_file,
            left <= 0
                ? std::string("has expired")
                : fmt::format("expires in {}", util::format_duration(std::chrono::seconds(left))),
            util::format_time(*info.certificate_expires), info.host));
    }
}

void judge(std::int64_t now, ClientInfo& info) {
    if (info.enabled) {
        judge_freshness(now, info);
    }
    judge_certificate(now, info);
    if (info.quota && info.quota_used * 10 >= *info.quota * 9) {
        info.problems.push_back(fmt::format(
            "the repository uses {} of its quota of {}; raise it: new-restic-server -H {} "
            "--set-quota SIZE",
            util::format_size(info.quota_used), util::format_size(*info.quota), info.host));
    }
    for (const auto& e : info.state_errors) {
        info.problems.push_back(e);
    }
    if (info.sync_failures > 0 || !info.sync_error.empty()) {
        info.problems.push_back(
            fmt::format("sync failing ({} failures): {}", info.sync_failures, info.sync_error));
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

ClientInfo read_client(const ServerLayout& layout, const std::string& host,
                       const ClientConfig& config, std::int64_t now) {
    ClientPaths paths = layout.client(host);
    ClientInfo info;
    info.host = host;
    info.kind = std::string(to_string(config.kind));
    info.topology = std::string(to_string(config.topology));
    info.expected_interval_hours = config.expected_interval_hours;
    std::error_code ec;
    info.enabled = fs::exists(fs::symlink_status(layout.enable_link(host), ec));
    info.append_only = config.append_only;
    info.quota = config.quota;
    read_services(paths, info);
    read_repository(config.repository, info);
    read_certificate(layout, config, info);
    read_sync(paths.state, info);
    read_replication(paths.state, info);
    read_audits(paths.state, info);
    judge(now, info);
    return info;
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
    auto hosts = TRY(layout.clients());
    for (const auto& host : hosts) {
        auto config = load_client_config(layout.client(host).config_file.string());
        if (!config) {
            status.errors.push_back(config.error().message());
            continue;
        }
        status.clients.push_back(read_client(layout, host, *config, now));
    }
    return status;
}

} // namespace backup::core
