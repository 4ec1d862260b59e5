// Reading what backup-status reports: each client's config, services, repository listing and
// state files, the shared instances and the filesystems. Judging is in judge.cpp.
#include "status/collect.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "model/shared.hpp"
#include "provision/owner.hpp"
#include "state/audit_status.hpp"
#include "state/certificate_cache.hpp"
#include "state/remote_listing.hpp"
#include "state/replicate_status.hpp"
#include "state/syncd_status.hpp"
#include "status/repository_scan.hpp"
#include "util/dir.hpp"
#include "util/parallel.hpp"
#include "util/time.hpp"
#include "util/tls.hpp"

namespace backup::core {

namespace {

// Threads reading clients: beyond the cores, more only wait on the same disk.
constexpr std::size_t k_status_workers = 4;

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
    info.services.push_back(read_service(std::string(k_client_service_name), paths.service));
    auto entries = util::read_directory(paths.services.string(), util::IfMissing::empty);
    if (!entries) {
        info.problems.push_back(
            {ProblemKind::state_file, paths.services.string(), entries.error().message()});
        return;
    }
    for (const auto& e : *entries) {
        info.services.push_back(read_service(e.name, paths.services / e.name));
    }
}

// Snapshots and sizes from one walk of the repository (status/repository_scan.hpp). Disk used
// is every file's blocks; what rest-server counts against a quota is the size of every file and
// directory its walk of the data directory sees (256 data directories of 4 KiB are 1 MiB of it).
void read_repository(ClientInfo& info) {
    RepositoryScan scan = scan_repository(info.repository);
    info.initialised = scan.initialised;
    if (scan.snapshots) {
        info.snapshots = *scan.snapshots;
        info.snapshot_times = std::move(scan.snapshot_times);
        if (!info.snapshot_times.empty()) {
            info.newest_snapshot = info.snapshot_times.back();
        }
    } else if (info.initialised) {
        // Before `restic init` there is nothing to list; after it, not being able to is a fault.
        info.problems.push_back(
            {ProblemKind::repository, "snapshots", scan.snapshots.error().message()});
    }
    info.repository_bytes = scan.disk_bytes;
    if (scan.walk_error && info.initialised) {
        info.problems.push_back({ProblemKind::repository, "size", *scan.walk_error});
    }
    if (info.quota) {
        info.quota_used = scan.apparent_bytes;
    }
}

// A remote primary is never listed here (backup-status makes no network request): backup-syncd
// records each listing it makes (judge.cpp judges whether it is recent and good).
void read_remote(const fs::path& state, const ClientConfig& config, ClientInfo& info) {
    info.kind = "remote";
    info.topology = "remote";
    info.remote_repository = config.remote_repository;
    info.poll_interval_seconds = config.poll_interval_seconds;
    auto read = read_remote_listing(state);
    if (!read) {
        info.problems.push_back({ProblemKind::state_file, "listing", read.error().message()});
        return;
    }
    if (!*read) {
        return; // judged with the services: a disabled client lists nothing
    }
    const RemoteListing& l = **read;
    info.listed = l.listed;
    info.initialised = !l.snapshots.empty();
    for (const auto& s : l.snapshots) {
        if (s.time) {
            info.snapshot_times.push_back(*s.time);
        }
        info.snapshot_bytes += s.size;
    }
    info.snapshots = l.snapshots.size();
    std::sort(info.snapshot_times.begin(), info.snapshot_times.end());
    if (!info.snapshot_times.empty()) {
        info.newest_snapshot = info.snapshot_times.back();
    }
    info.listing_error = l.error.value_or("");
}

void read_sync(const fs::path& state, ClientInfo& info) {
    auto read = read_sync_status(state);
    if (!read) {
        info.problems.push_back({ProblemKind::state_file, "backup-syncd", read.error().message()});
        return;
    }
    if (!*read) {
        return;
    }
    const SyncStatus& syncd = **read;
    info.last_sync = unix_time(syncd.last_success);
    info.sync_updated = util::parse_unix_time(syncd.updated);
    info.sync_running = syncd.running;
    info.snapshots_synced = syncd.snapshots_synced;
    info.sync_failures = syncd.consecutive_failures;
    if (info.sync_failures > 0) {
        info.sync_error = syncd.last_result.value_or("failed");
    }
    // A watcher started before `restic init` cannot list snapshots/ yet: that is no fault.
    if (syncd.watch_error && (info.initialised || info.snapshots_synced > 0)) {
        info.sync_error = *syncd.watch_error;
    }
    if (syncd.state_error) {
        info.sync_error = *syncd.state_error;
    }
}

// The destinations client.yaml names, with what restic-replicate's last run says of each; one it
// has not run for yet is "never".
void read_replication(const fs::path& state, const ClientConfig& config, ClientInfo& info) {
    for (const auto& d : config.destinations) {
        DestinationInfo mine;
        mine.name = d.name;
        mine.state = "never";
        mine.keep_deleted = format_keep_deleted(d.keep_deleted);
        info.destinations.push_back(std::move(mine));
    }
    auto read = read_replicate_status(state);
    if (!read) {
        info.problems.push_back(
            {ProblemKind::state_file, "restic-replicate", read.error().message()});
        return;
    }
    if (!*read) {
        return;
    }
    for (const auto& d : (*read)->destinations) {
        auto it = std::find_if(info.destinations.begin(), info.destinations.end(),
                               [&](const DestinationInfo& mine) { return mine.name == d.name; });
        if (it == info.destinations.end()) {
            continue; // no longer configured
        }
        it->state = d.state;
        it->last_success = unix_time(d.last_success);
        it->missing_snapshots = static_cast<std::int64_t>(d.missing_snapshots);
        if (d.newest_missing_snapshot) {
            it->newest_missing = util::parse_unix_time(d.newest_missing_snapshot->time);
        }
        it->error = d.error.value_or("");
        if (d.retention) {
            const RetentionStatus& r = *d.retention;
            it->pending_deletions = r.pending_files;
            it->pending_deletion_bytes = r.pending_bytes;
            it->next_deletion_due = unix_time(r.next_due);
            it->deletions_held = r.held.value_or("");
            it->deletions_frozen = r.frozen;
            it->last_deletion = unix_time(r.last_deletion);
        }
    }
}

// restic-audit writes audit-<label>.json per audited repository (the client's own and local
// replicas).
void read_audits(const fs::path& state, ClientInfo& info) {
    auto labels = audit_status_labels(state);
    if (!labels) {
        info.problems.push_back(
            {ProblemKind::state_file, "restic-audit", labels.error().message()});
        return;
    }
    for (const auto& label : *labels) {
        auto read = read_audit_status(state, label);
        if (!read) {
            info.problems.push_back({ProblemKind::state_file, label, read.error().message()});
            continue;
        }
        if (!*read) {
            continue;
        }
        const AuditStatus& audit = **read;
        AuditInfo a;
        a.label = label;
        a.result = audit.result;
        a.mode = audit.mode;
        a.finished = util::parse_unix_time(audit.finished);
        a.findings = static_cast<std::int64_t>(audit.findings.size());
        if (!audit.findings.empty()) {
            a.first_finding =
                fmt::format("{}: {}", audit.findings.front().path, audit.findings.front().kind);
        } else if (!audit.errors.empty()) {
            a.first_finding = audit.errors.front();
        }
        a.cycle_length = audit.cycle_length;
        a.position = audit.next_position;
        if (audit.last_full_coverage) {
            a.last_full_coverage = util::parse_unix_time(audit.last_full_coverage->finished);
        }
        info.audits.push_back(std::move(a));
    }
}

// Parsing a certificate is most of a client's cost; one unchanged since the last run is not
// parsed again (state/certificate_cache.hpp).
void read_certificate(const fs::path& file, CertificateCache& cache, std::string& where,
                      std::optional<std::int64_t>& expires, std::vector<Problem>& problems) {
    where = file.string();
    std::int64_t stamped_at = real_time_ns();
    auto stamp = stamp_of(where);
    if (stamp) {
        if (auto known = cache.lookup(where, *stamp)) {
            expires = *known;
            return;
        }
    }
    auto cert = util::read_certificate_file(where);
    if (!cert) {
        problems.push_back({ProblemKind::certificate, where, cert.error().message()});
        return;
    }
    expires = cert->not_after;
    // Stamped before it was read: a file replaced in between is read again next time.
    if (stamp) {
        cache.record(where, *stamp, cert->not_after, stamped_at);
    }
}

std::optional<std::int64_t> mtime_of(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return st.st_mtim.tv_sec;
}

// Whether the services' user can record anything: backup-syncd and restic-replicate replace
// their files in the state directory, which takes write and search permission on it, as the
// user and the one group runit's chpst gives it. A read-only mount or a mode that shuts the user
// out leaves their last status in place, which would read as all well. Access control lists are
// not read: one that grants more than the mode shows is reported, to be looked at.
// Each distinct user and group looked up once a run (a lookup scans /etc/passwd), shared by the
// threads.
class Owners {
public:
    util::Expected<Owner> get(const std::string& user, const std::string& group) {
        std::lock_guard lock(m_mutex);
        auto key = std::make_pair(user, group);
        auto it = m_known.find(key);
        if (it == m_known.end()) {
            it = m_known.emplace(key, resolve_owner(user, group)).first;
        }
        return it->second;
    }

private:
    std::mutex m_mutex;
    std::map<std::pair<std::string, std::string>, util::Expected<Owner>> m_known;
};

void check_state_dir(const fs::path& state, const ClientConfig& config, Owners& owners,
                     ClientInfo& info) {
    auto problem = [&](const std::string& why) {
        info.problems.push_back(
            {ProblemKind::state_file, "state",
             fmt::format("backup-syncd and restic-replicate cannot record their runs: {}", why)});
    };
    struct stat st {};
    if (::stat(state.c_str(), &st) != 0) {
        problem(fmt::format("unable to read {}: {}", state.string(), std::strerror(errno)));
        return;
    }
    struct statvfs vfs {};
    if (::statvfs(state.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
        problem(fmt::format("{} is on a read-only filesystem", state.string()));
        return;
    }
    auto owner = owners.get(config.owner_user, config.owner_group);
    if (!owner) {
        problem(owner.error().message());
        return;
    }
    if (owner->uid == 0) {
        return;
    }
    unsigned shift = st.st_uid == owner->uid ? 6 : st.st_gid == owner->gid ? 3 : 0;
    if (((st.st_mode >> shift) & 3U) != 3U) {
        problem(fmt::format("{} (mode {:04o}, owner {}:{}) is not writable by {}:{}",
                            state.string(), st.st_mode & 07777U, st.st_uid, st.st_gid,
                            config.owner_user, config.owner_group));
    }
}

ClientInfo read_client(const ServerLayout& layout, const ClientConfig& config,
                       CertificateCache& certificates, Owners& owners) {
    ClientPaths paths = layout.client(config.host);
    ClientInfo info;
    info.host = config.host;
    info.kind = std::string(to_string(config.kind));
    info.topology = std::string(to_string(config.topology));
    info.expected_interval_hours = config.expected_interval_hours;
    info.repository = config.repository;
    // Files made before client.yaml recorded it: when it was last written.
    info.created = config.created ? config.created : mtime_of(paths.config_file);
    std::error_code ec;
    info.enabled = fs::exists(fs::symlink_status(layout.enable_link(config.host), ec));
    info.access_disabled = fs::exists(paths.access_disabled, ec);
    info.append_only = config.append_only;
    info.quota = config.quota;
    info.tls = config.tls;
    read_services(paths, info);
    if (config.is_remote()) {
        read_remote(paths.state, config, info);
    } else {
        read_repository(info);
    }
    if (config.tls && config.topology == Topology::dedicated) {
        read_certificate(paths.certificate, certificates, info.certificate_file,
                         info.certificate_expires, info.problems);
    }
    check_state_dir(paths.state, config, owners, info);
    read_sync(paths.state, info);
    read_replication(paths.state, config, info);
    read_audits(paths.state, info);
    return info;
}

std::vector<InstanceInfo> read_instances(const ServerLayout& layout,
                                         const std::vector<ClientInfo>& clients,
                                         CertificateCache& certificates) {
    std::vector<InstanceInfo> out;
    for (auto kind : {ServerKind::versitygw, ServerKind::rest_server}) {
        SharedPaths paths = shared_paths(layout, kind);
        std::error_code ec;
        if (!fs::exists(paths.config_file, ec)) {
            continue;
        }
        InstanceInfo instance;
        instance.kind = std::string(to_string(kind));
        instance.enabled =
            fs::exists(fs::symlink_status(layout.scan_dir() / shared_service_name(kind), ec));
        instance.service = read_service(shared_service_name(kind), paths.service);
        instance.clients = static_cast<std::size_t>(
            std::count_if(clients.begin(), clients.end(), [&](const ClientInfo& c) {
                return c.topology == "shared" && c.kind == instance.kind;
            }));
        if (auto shared = load_shared_config(paths.config_file.string())) {
            instance.port = shared->port;
            instance.tls = shared->tls;
        } else {
            instance.problems.push_back(
                {ProblemKind::config, paths.config_file.string(), shared.error().message()});
        }
        if (instance.tls) {
            read_certificate(paths.certificate, certificates, instance.certificate_file,
                             instance.certificate_expires, instance.problems);
        }
        out.push_back(std::move(instance));
    }
    return out;
}

// Where the filesystem holding path is mounted: the topmost directory above it on the same
// device.
std::string mount_point_of(fs::path path, dev_t device) {
    path = path.lexically_normal();
    while (path.has_parent_path() && path.parent_path() != path) {
        struct stat st {};
        if (::stat(path.parent_path().c_str(), &st) != 0 || st.st_dev != device) {
            break;
        }
        path = path.parent_path();
    }
    return path.string();
}

std::vector<FilesystemInfo> read_filesystems(const std::vector<ClientInfo>& clients) {
    std::map<dev_t, FilesystemInfo> by_device;
    std::vector<dev_t> order;
    for (const auto& c : clients) {
        if (c.repository.empty()) {
            continue; // its config could not be read
        }
        // The repository, or before `restic init` the directory it will be made in.
        fs::path where = c.repository;
        struct stat st {};
        while (::stat(where.c_str(), &st) != 0 && where.has_parent_path() &&
               where.parent_path() != where) {
            where = where.parent_path();
        }
        auto [it, made] = by_device.try_emplace(st.st_dev);
        FilesystemInfo& f = it->second;
        if (made) {
            order.push_back(st.st_dev);
            f.path = mount_point_of(where, st.st_dev);
            struct statvfs vfs {};
            if (::statvfs(where.c_str(), &vfs) == 0) {
                f.size_bytes = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
                f.free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
                f.used_bytes =
                    static_cast<std::uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
            } else {
                f.problems.push_back({ProblemKind::disk_filling, f.path,
                                      fmt::format("unable to read the free space of {}: {}", f.path,
                                                  std::strerror(errno))});
            }
        }
        f.clients.push_back(c.host);
    }
    std::vector<FilesystemInfo> out;
    for (auto device : order) {
        out.push_back(std::move(by_device[device]));
    }
    return out;
}

ClientInfo read_host(const ServerLayout& layout, const std::string& host,
                     CertificateCache& certificates, Owners& owners) {
    auto config = load_client_config(layout.client(host).config_file.string());
    if (!config) {
        ClientInfo broken;
        broken.host = host;
        broken.state = ClientState::error;
        broken.problems.push_back({ProblemKind::config, "client.yaml", config.error().message()});
        return broken;
    }
    return read_client(layout, *config, certificates, owners);
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
    CertificateCache certificates(root);
    Owners owners;
    std::vector<std::string> hosts = TRY(layout.clients());
    status.clients.resize(hosts.size());
    // Clients are independent and most of the time is waiting on the file system: they are read
    // on every core, each into its own slot, so the order stays the hosts' order.
    util::parallel_for(hosts.size(), k_status_workers, [&](std::size_t i) {
        status.clients[i] = read_host(layout, hosts[i], certificates, owners);
    });
    status.instances = read_instances(layout, status.clients, certificates);
    status.filesystems = read_filesystems(status.clients);
    judge_status(status);
    // Only a cache: a run that may not write it (a monitoring user) or fails to parses the
    // certificates again next time, and reports the same.
    (void)certificates.save(root);
    return status;
}

} // namespace backup::core
