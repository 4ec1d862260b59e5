#include "provision/provision.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "provision/clients.hpp"
#include "provision/dedicated_gateway.hpp"
#include "provision/plan.hpp"
#include "provision/ports.hpp"
#include "provision/reach.hpp"
#include "provision/remote.hpp"
#include "provision/shared_instance.hpp"
#include "provision/system_user.hpp"
#include "provision/tls.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/process.hpp"
#include "util/socket.hpp"
#include "util/tls.hpp"
#include "util/undo.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// The root must exist (an administrator's choice, not ours to invent).
Expected<void> check_root(const ServerConfig& server) {
    std::error_code ec;
    if (!fs::is_directory(server.root, ec)) {
        return util::fail(ExitCode::permanent, "use root {}: not a directory",
                          server.root.string());
    }
    return {};
}

// Its systems/ and scan directory are ours.
Expected<void> prepare_root(const ServerLayout& layout) {
    std::error_code ec;
    for (const auto& dir : {layout.systems(), layout.systems() / "conf", layout.scan_dir()}) {
        if (!fs::is_directory(dir, ec) && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
            return util::fail_errno(errno, fmt::format("create directory {}", dir.string()));
        }
    }
    return {};
}

// A local destination must be an empty directory the service user can write, or missing below
// a directory that exists (a missing parent may be a disk that is not mounted: never made
// here). Missing ones are returned, to be made when the client is committed.
Expected<std::optional<fs::path>> check_local_destination(const Destination& d, const Owner& owner,
                                                          bool owner_made,
                                                          std::vector<Reach>& reaches) {
    std::error_code ec;
    std::string what = fmt::format("destination {}", d.name);
    if (!fs::exists(fs::symlink_status(d.path, ec))) {
        fs::path parent = d.path.parent_path();
        if (!fs::is_directory(parent, ec) && owner_made) {
            return util::fail(ExitCode::permanent,
                              "use {} ({}): {} does not exist (a disk not mounted?); make it: the "
                              "destination itself is made for the client's own user; nothing was "
                              "changed",
                              what, d.path.string(), parent.string());
        }
        if (!fs::is_directory(parent, ec)) {
            return util::fail(ExitCode::permanent,
                              "use {} ({}): {} does not exist (a disk not mounted?); make it, "
                              "or make the destination itself: install -d -o {} -g {} -m 0700 "
                              "{}; nothing was changed",
                              what, d.path.string(), parent.string(), owner.user, owner.group,
                              d.path.string());
        }
        reaches.push_back({parent, Reach::Need::search, what + "'s parent"});
        return d.path;
    }
    if (!fs::is_directory(d.path, ec)) {
        return util::fail(ExitCode::permanent, "use {} ({}): not a directory; nothing was changed",
                          what, d.path.string());
    }
    if (!fs::is_empty(d.path, ec)) {
        bool repository = fs::exists(d.path / "config", ec);
        return util::fail(ExitCode::permanent,
                          "use {} ({}): it {} (a replica of a removed client of that name?); move "
                          "it away or delete it, or give the client another destination; nothing "
                          "was changed",
                          what, d.path.string(),
                          repository ? "holds a restic repository" : "is not empty");
    }
    reaches.push_back({d.path, Reach::Need::read_write, what});
    return std::nullopt;
}

// Before anything is written: every program the client's services run, the root and every
// destination must be within the service user's reach. Returns the destination directories to
// make.
Expected<std::vector<fs::path>> check_service_reach(const ServerConfig& server,
                                                    const ClientConfig& config,
                                                    const Programs& programs, const Owner& owner) {
    std::vector<Reach> reaches = {
        {programs.syncd, Reach::Need::execute, "backup-syncd"},
        {programs.replicate, Reach::Need::execute, "restic-replicate"},
        {server.root, Reach::Need::search, "the root"},
    };
    // A remote primary has no storage server here, and is listed and read with rclone.
    if (!config.is_remote()) {
        reaches.push_back(
            {programs.storage, Reach::Need::execute, std::string(to_string(config.kind))});
    }
    std::vector<fs::path> to_make;
    bool remote = config.is_remote();
    for (const auto& d : config.destinations) {
        if (!d.is_local()) {
            remote = true;
        } else if (auto missing =
                       TRY(check_local_destination(d, owner, config.owner_created, reaches))) {
            to_make.push_back(*missing);
        }
    }
    if (remote) {
        reaches.push_back({TRY(find_rclone()), Reach::Need::execute, "rclone"});
    }
    TRY(check_reach(owner, reaches));
    return to_make;
}

// A dedicated client's own port and TLS as the server config says, or the shared instance's
// (made with the first shared client).
Expected<void> assign_instance(const ServerConfig& server, const ServerLayout& layout,
                               const ProvisionRequest& request, const Owner& owner,
                               const std::string& storage_binary,
                               const std::optional<Authority>& authority, ClientConfig& config) {
    if (config.topology == Topology::dedicated) {
        config.port = TRY(choose_port(server, layout, request.port));
        config.tls = server.tls.mode != TlsSettings::Mode::off;
        return {};
    }
    if (request.port) {
        return util::fail(ExitCode::permanent,
                          "use port {} for {}: a shared client uses the shared instance's port",
                          *request.port, config.host);
    }
    SharedInstance instance =
        TRY(ensure_shared_instance(server, layout, config.kind, owner, storage_binary, authority));
    config.port = instance.port;
    config.tls = instance.tls;
    if (instance.tls) {
        // One certificate serves every client of the instance: it must carry this one's address.
        fs::path file = shared_paths(layout, config.kind).certificate;
        auto certificate = TRY(util::read_certificate_file(file.string()));
        if (std::find(certificate.names.begin(), certificate.names.end(), config.address) ==
            certificate.names.end()) {
            return util::fail(ExitCode::permanent,
                              "provision {} at {}: the shared {}'s certificate ({}) is for {} "
                              "only; add {} to tls.names in the server config and run "
                              "new-restic-server --renew-certs first",
                              config.host, config.address, to_string(config.kind), file.string(),
                              fmt::join(certificate.names, ", "), config.address);
        }
    }
    return {};
}

// The limits a dedicated rest-server gets: the request's, else the server config's.
Expected<void> assign_limits(const ServerConfig& server, const ProvisionRequest& request,
                             ClientConfig& config) {
    bool dedicated_rest =
        config.kind == ServerKind::rest_server && config.topology == Topology::dedicated;
    if ((request.append_only || request.quota) && !dedicated_rest) {
        return util::fail(ExitCode::permanent,
                          "set --append-only or --quota for {}: they are limits of a dedicated "
                          "rest-server (a shared instance has one set for every client, in the "
                          "server config)",
                          config.host);
    }
    if (dedicated_rest) {
        config.append_only = request.append_only.value_or(server.append_only);
        config.quota = request.quota ? request.quota : server.max_size;
    }
    return {};
}

// The client's certificate (a dedicated instance's) and the CA file it takes home.
Expected<void> build_tls(const ServerConfig& server, const std::optional<Authority>& authority,
                         const ClientPlan& plan, const ClientPaths& p, const Owner& owner) {
    if (!plan.config.tls) {
        return {};
    }
    if (!plan.shared) {
        TRY(install_certificate(server, authority, {p.certificate, p.certificate_key},
                                certificate_names(server, plan.config.address), owner));
    }
    if (authority) {
        TRY(write_file(p.ca_file, authority->trust, 0644));
    }
    return {};
}

// A dedicated versitygw's root keys (root's), and the client's account and bucket on it.
Expected<void> build_gateway(const ClientPlan& plan, const ClientPaths& p, const Owner& owner) {
    GatewayFiles files = gateway_files(p);
    TRY(write_root_keys(p.secrets, plan.gateway_root, nullptr));
    TRY(make_dir(files.iam, 0700, &owner));
    TRY(write_account(p.secrets, plan.credentials, owner));
    return create_gateway_account(files, owner, plan.config.bucket, plan.credentials);
}

// Everything of the client below p (a staging directory that becomes plan.paths).
Expected<void> build_client(const ServerConfig& server, const std::optional<Authority>& authority,
                            const ClientPlan& plan, const ClientPaths& p, const Owner& owner) {
    const ClientPaths& final_paths = plan.paths;
    for (const auto& dir : {p.conf, p.services, p.dir / "client"}) {
        TRY(make_dir(dir, 0755));
    }
    TRY(make_dir(p.secrets, 0700, &owner));
    if (!plan.shared) {
        TRY(make_dir(p.data, 0750, &owner));
    }
    TRY(make_dir(p.state, 0750, &owner));
    TRY(make_dir(p.logs, 0755));
    // The client's own service: its runsvdir, the control/t that stops the whole tree.
    TRY(make_service(p.service, "client/run", plan.values, p.logs / "runsvdir",
                     final_paths.logs / "runsvdir", owner));
    TRY(make_dir(p.service / "control", 0755));
    TRY(render_to(p.service / "control" / "t", "client/control-t", plan.values, 0755));
    // A shared client's storage server is the shared instance: only backup-syncd here.
    const std::string& storage = plan.storage_service;
    if (!plan.shared) {
        TRY(make_service(p.services / storage, storage + "/run", plan.values, p.logs / storage,
                         final_paths.logs / storage, owner));
    }
    TRY(make_service(p.services / "backup-syncd", "backup-syncd/run", plan.values,
                     p.logs / "backup-syncd", final_paths.logs / "backup-syncd", owner));
    if (plan.config.kind == ServerKind::rest_server) {
        TRY(write_secrets(p.secrets, plan.config, plan.credentials, owner));
    } else if (plan.shared) {
        TRY(write_account(p.secrets, plan.credentials, owner));
    } else {
        TRY(build_gateway(plan, p, owner));
    }
    TRY(build_tls(server, authority, plan, p, owner));
    TRY(write_file(p.config_file, render_client_config(plan.config), 0644));
    std::string ca_file = authority && plan.config.tls ? server.tls.client_ca_file : "";
    return write_file(p.environ_file, render_environ(plan.config, plan.credentials, ca_file), 0600);
}

// Makes the client real: its account and bucket on a shared versitygw, the staging directory
// renamed into place, a shared rest-server's htpasswd. Undone in reverse when a step fails.
Expected<void> commit_client(const ServerConfig& server, const ServerLayout& layout,
                             const ClientPlan& plan, util::TempDir& staging, const Owner& owner,
                             const std::vector<fs::path>& destinations_to_make) {
    util::UndoStack undo;
    for (const auto& dir : destinations_to_make) {
        TRY(make_dir(dir, 0700, &owner));
        undo.push([dir] { ::rmdir(dir.c_str()); });
    }
    const ClientConfig& config = plan.config;
    if (plan.shared && config.kind == ServerKind::versitygw) {
        VersitygwAdmin admin = TRY(shared_admin(server, layout));
        TRY(admin.wait_ready(std::chrono::seconds(30)));
        TRY(admin.create_user(config.user, plan.credentials.secret));
        undo.push([admin, user = config.user] { (void)admin.delete_user(user); });
        TRY(admin.create_bucket(config.bucket, config.user));
        // The posix backend's bucket is the directory, empty this early.
        undo.push([repository = config.repository] {
            std::error_code ec;
            fs::remove(repository, ec);
        });
    }
    // Every file and directory of the staged tree (written without fsyncs, and versitygw's
    // account files) on disk before the rename makes it the client.
    TRY(util::fsync_tree(staging.path().string()));
    TRY(rename_into_place(staging.path(), plan.paths.dir));
    staging.release();
    if (plan.shared && config.kind == ServerKind::rest_server) {
        // The client is in place: the htpasswd is composed from the clients on disk.
        undo.push([&] {
            std::error_code ec;
            fs::remove_all(plan.paths.dir, ec);
            (void)rebuild_shared_htpasswd(layout, owner);
        });
        if (auto ok = rebuild_shared_htpasswd(layout, owner); !ok) {
            return std::unexpected(
                ok.error().with_context(fmt::format("provision {}", config.host)));
        }
    }
    undo.commit();
    return {};
}

// The client's tree built by build into a staging directory next to its final place (written
// without fsyncs, flushed once by commit_client), then committed.
Expected<void> stage_and_commit(const ServerConfig& server, const ServerLayout& layout,
                                const ClientPlan& plan, const Owner& owner,
                                const std::vector<fs::path>& destinations_to_make,
                                const std::function<Expected<void>(const ClientPaths&)>& build) {
    auto staging = TRY(util::TempDir::create(
        (layout.systems() / fmt::format(".staging-{}-", plan.config.host)).string()));
    ::chmod(staging.path().c_str(), 0755);
    util::DeferredSync deferred(staging.path().string());
    if (auto ok = build(ServerLayout::client_at(staging.path())); !ok) {
        return std::unexpected(
            ok.error().with_context(fmt::format("provision {}", plan.config.host)));
    }
    return commit_client(server, layout, plan, staging, owner, destinations_to_make);
}

Expected<void> check_new(const ClientPaths& paths, const std::string& host) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(paths.dir, ec))) {
        return util::fail(ExitCode::permanent,
                          "provision {}: it exists ({}); nothing was changed (to replace its keys "
                          "use --rotate-keys, to start over use --remove first)",
                          host, paths.dir.string());
    }
    return {};
}

// The owner of a new client's services: the one named, or (owner_user empty) a system user of
// its own, made now and deleted again by undo when a later step fails. What the services will
// use is checked as that user.
Expected<Owner> make_owner(const ServerConfig& server, ClientConfig& config,
                           const Programs& programs, util::UndoStack& undo,
                           std::vector<fs::path>& destinations_to_make) {
    Owner owner;
    if (config.owner_user.empty()) {
        std::string name = client_user_name(server.client_user_prefix, config.host);
        owner = TRY(create_system_user(name, config.host));
        undo.push([name] { (void)delete_system_user(name); });
        config.owner_user = owner.user;
        config.owner_group = owner.group;
        config.owner_created = true;
    } else {
        owner = TRY(resolve_owner(config.owner_user, config.owner_group));
    }
    destinations_to_make = TRY(check_service_reach(server, config, programs, owner));
    return owner;
}

// A remote primary's request: a remote, and none of a storage server's options.
Expected<void> check_remote_request(const ProvisionRequest& r) {
    std::vector<std::string> problems;
    auto refuse = [&](bool given, const char* option) {
        if (given) {
            problems.push_back(fmt::format("unable to use {} with --remote-repository: a remote "
                                           "primary has no storage server here",
                                           option));
        }
    };
    refuse(r.kind.has_value(), "--server");
    refuse(r.topology.has_value(), "--topology");
    refuse(r.port.has_value(), "-p/--port");
    refuse(r.address.has_value(), "--address");
    refuse(r.append_only.has_value() || r.quota.has_value(), "--append-only/--quota");
    if (auto ok = validate_rclone_remote(r.remote_repository, "--remote-repository"); !ok) {
        problems.push_back(ok.error().message());
    }
    if (r.poll_interval && (*r.poll_interval < 1 || *r.poll_interval > 86400)) {
        problems.push_back(fmt::format("unable to use --poll-interval {}: expected 1 to 86400 "
                                       "seconds",
                                       *r.poll_interval));
    }
    if (r.event_port && (*r.event_port < 1 || *r.event_port > 65535)) {
        problems.push_back(
            fmt::format("unable to use --event-port {}: expected 1 to 65535", *r.event_port));
    }
    if (!problems.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return {};
}

// backup-syncd's event port, which it listens on at 127.0.0.1: no other client's (a dedicated
// storage server's port, another remote primary's event port, a shared instance's), and free
// now. Under the provisioning lock, so two clients cannot both take it.
Expected<void> check_event_port(const ServerLayout& layout, int port) {
    auto in_use = TRY(ports_in_use_by_clients(layout));
    if (std::ranges::find(in_use.ports, port) != in_use.ports.end()) {
        return util::fail(ExitCode::permanent, "use --event-port {}: another client uses it", port);
    }
    if (!TRY(util::port_is_free("127.0.0.1", port))) {
        return util::fail(ExitCode::permanent,
                          "use --event-port {}: something listens on 127.0.0.1:{} already", port,
                          port);
    }
    return {};
}

// A remote primary's files below p (a staging directory that becomes plan.paths): no data
// directory and no storage server, only backup-syncd listing the remote.
Expected<void> build_remote_client(const ClientPlan& plan, const RemoteStore& store,
                                   const ClientPaths& p, const Owner& owner) {
    const ClientPaths& final_paths = plan.paths;
    for (const auto& dir : {p.conf, p.services, p.dir / "client"}) {
        TRY(make_dir(dir, 0755));
    }
    TRY(make_dir(p.secrets, 0700, &owner));
    TRY(make_dir(p.state, 0750, &owner));
    TRY(make_dir(p.logs, 0755));
    TRY(make_service(p.service, "client/run", plan.values, p.logs / "runsvdir",
                     final_paths.logs / "runsvdir", owner));
    TRY(make_dir(p.service / "control", 0755));
    TRY(render_to(p.service / "control" / "t", "client/control-t", plan.values, 0755));
    TRY(make_service(p.services / "backup-syncd", "backup-syncd/remote-run", plan.values,
                     p.logs / "backup-syncd", final_paths.logs / "backup-syncd", owner));
    TRY(write_file(p.rclone_config, store.config_text, 0600, &owner));
    TRY(write_file(p.config_file, render_client_config(plan.config), 0644));
    return write_file(p.environ_file, render_remote_environ(plan.config, store), 0600);
}

Expected<ProvisionResult> provision_remote_client(const ServerConfig& server,
                                                  const ProvisionRequest& request) {
    TRY(validate_host_name(request.host));
    TRY(check_remote_request(request));
    ServerLayout layout(server.root);
    ProvisionRequest own = request;
    own.topology = Topology::dedicated; // a user of its own, as a dedicated client
    ClientConfig config = initial_client_config(server, own, "");
    config.address.clear();
    config.remote_repository = request.remote_repository;
    config.poll_interval_seconds = request.poll_interval.value_or(k_default_poll_interval_seconds);
    config.event_port = request.event_port;
    if (!config.owner_user.empty()) {
        TRY(resolve_owner(config.owner_user, config.owner_group));
    }
    Programs programs;
    programs.syncd = TRY(resolve_program(server.backup_syncd_binary, "backup-syncd", true));
    programs.replicate =
        TRY(resolve_program(server.restic_replicate_binary, "restic-replicate", true));
    std::string rclone = TRY(find_rclone());
    RemoteStore store =
        TRY(read_remote_store(config.remote_repository, request.remote_config, rclone));
    TRY(check_root(server));
    ClientPaths final_paths = layout.client(config.host);
    TRY(check_new(final_paths, config.host));
    util::UndoStack undo; // the client's own user, when one is made
    std::vector<fs::path> destinations_to_make;
    Owner owner = TRY(make_owner(server, config, programs, undo, destinations_to_make));
    TRY(prepare_root(layout));
    auto lock = TRY(lock_server(layout));
    TRY(check_new(final_paths, config.host));
    if (config.event_port) {
        TRY(check_event_port(layout, *config.event_port));
    }
    ClientPlan plan = plan_remote_client(server, std::move(config), owner, programs);
    TRY(stage_and_commit(server, layout, plan, owner, destinations_to_make,
                         [&](const ClientPaths& staged) {
                             return build_remote_client(plan, store, staged, owner);
                         }));
    undo.commit();
    return ProvisionResult{plan.config, plan.paths, layout.enable_link(plan.config.host), "",
                           remote_placeholders_text(store, plan.paths.rclone_config.string())};
}

} // namespace

Expected<void> rename_into_place(const fs::path& from, const fs::path& to) {
    if (!TRY(util::rename_noreplace(from.string(), to.string()))) {
        return util::fail(ExitCode::permanent, "create {}: it exists", to.string());
    }
    return util::fsync_directory(to.parent_path().string());
}

Expected<ProvisionResult> provision_client(const ServerConfig& server,
                                           const ProvisionRequest& request) {
    if (!request.remote_repository.empty()) {
        return provision_remote_client(server, request);
    }
    TRY(validate_host_name(request.host));
    ServerLayout layout(server.root);
    ClientConfig config = initial_client_config(server, request, default_client_address(server));
    if (config.kind == ServerKind::versitygw) {
        TRY(bucket_for_host(config.host));
    }
    if (!config.owner_user.empty()) {
        TRY(resolve_owner(config.owner_user, config.owner_group)); // before the root is touched
    }
    Programs programs = TRY(resolve_programs(server, config.kind));
    TRY(check_root(server));
    ClientPaths final_paths = layout.client(config.host);
    // Checked before its user is made (an existing client's user exists), and again under the lock.
    TRY(check_new(final_paths, config.host));
    util::UndoStack undo; // the client's own user, when one is made
    std::vector<fs::path> destinations_to_make;
    Owner owner = TRY(make_owner(server, config, programs, undo, destinations_to_make));
    TRY(prepare_root(layout));
    auto lock = TRY(lock_server(layout));
    TRY(check_new(final_paths, config.host));
    std::error_code ec;
    std::optional<Authority> authority;
    if (server.tls.mode == TlsSettings::Mode::private_ca) {
        authority = TRY(ensure_authority(server, layout));
    }
    TRY(assign_limits(server, request, config));
    TRY(assign_instance(server, layout, request, owner, programs.storage, authority, config));
    Credentials credentials = TRY(make_credentials(config));
    Credentials gateway_root; // a dedicated versitygw's
    if (config.kind == ServerKind::versitygw && config.topology == Topology::dedicated) {
        gateway_root = TRY(make_credentials(config));
    }
    ClientPlan plan =
        plan_client(server, std::move(config), owner, programs, credentials, gateway_root);
    if (plan.shared && fs::exists(fs::symlink_status(plan.config.repository, ec))) {
        return util::fail(ExitCode::permanent,
                          "provision {}: {} exists in the shared {} (left by another client?); "
                          "nothing was changed",
                          plan.config.host, plan.config.repository.string(),
                          to_string(plan.config.kind));
    }
    TRY(stage_and_commit(server, layout, plan, owner, destinations_to_make,
                         [&](const ClientPaths& staged) {
                             return build_client(server, authority, plan, staged, owner);
                         }));
    undo.commit();
    return ProvisionResult{plan.config, plan.paths, layout.enable_link(plan.config.host),
                           server.tls.client_ca_file, ""};
}

} // namespace backup::core
