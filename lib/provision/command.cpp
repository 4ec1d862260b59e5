#include "provision/command.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "provision/provision.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;

void add_new_restic_server_options(CLI::App& app, NewResticServerArguments& a) {
    app.add_option("-H,--host", a.host, "the client's host name")->option_text("HOST");
    app.add_option("-p,--port", a.port, "its storage server's port (default: the first free)")
        ->option_text("PORT");
    app.add_option("--server", a.server, "storage server: versitygw or rest-server")
        ->option_text("KIND");
    app.add_option("--topology", a.topology, "dedicated or shared (default dedicated)")
        ->option_text("TOPOLOGY");
    app.add_option("-U,--user", a.user,
                   "an existing user the client's services run as (default: a dedicated "
                   "client's own, made now; a shared one's: owner.user)")
        ->option_text("USER");
    app.add_option("-G,--group", a.group, "an existing group the client's services run as")
        ->option_text("GROUP");
    app.add_option("-c,--config", a.config_path, "the server config")->option_text("FILE");
    app.add_option("--root", a.root, "the server root (default: the config's, else /backups)")
        ->option_text("DIR");
    app.add_option("--address", a.address, "the address the client connects to")
        ->option_text("ADDRESS");
    app.add_flag("--append-only", a.append_only, "a dedicated rest-server: no deletions");
    app.add_option("--quota", a.quota, "a dedicated rest-server: the most it stores")
        ->option_text("SIZE");
    app.add_option("--remote-repository", a.remote_repository,
                   "the repository is on this rclone remote (a store not run here)")
        ->option_text("NAME:PATH");
    app.add_option("--remote-config", a.remote_config,
                   "with --remote-repository: the rclone config defining NAME (read-only key)")
        ->option_text("FILE");
    app.add_option("--poll-interval", a.poll_interval,
                   "with --remote-repository: seconds between listings (default 60)")
        ->option_text("SECONDS");
    app.add_option("--event-port", a.event_port,
                   "with --remote-repository: backup-syncd takes the store's bucket events on "
                   "127.0.0.1:PORT")
        ->option_text("PORT");
    app.add_flag("--remove", a.remove, "remove the client (disable it first)");
    app.add_flag("--delete-data", a.delete_data, "with --remove: delete its repository too");
    app.add_flag("--rotate-keys", a.rotate, "make new credentials for the client");
    app.add_flag("--disable", a.disable, "shared client: its credentials stop working");
    app.add_flag("--enable", a.enable, "shared client: undo --disable");
    app.add_option("--set-append-only", a.set_append_only, "change a client's append-only")
        ->option_text("on|off");
    app.add_option("--set-quota", a.set_quota, "change a client's quota")->option_text("SIZE|none");
    app.add_flag("--renew-certs", a.renew_certs, "new certificates (of -H HOST, else all)");
    app.add_flag("--rotate-ca", a.rotate_ca,
                 "a new CA, trusted beside the old (then --renew-certs)");
    app.add_flag("--systemd-unit", a.systemd_unit, "print the systemd unit of the root's runsvdir");
    app.add_option("--stop-helper", a.stop_helper, "the unit's stop helper (restic-backup-stop)")
        ->option_text("PATH");
}

namespace {

void print(const std::string& text) {
    std::fputs(text.c_str(), stdout);
}

[[noreturn]] void refuse(std::string message) {
    throw util::Fatal(util::Error(ExitCode::permanent, std::move(message)));
}

std::optional<std::uint64_t> size_of(const std::string& option, const std::string& text) {
    auto size = util::parse_size(text);
    if (!size) {
        refuse(fmt::format("unable to use {} {}: expected a number of bytes, optionally with K, "
                           "M, G or T (powers of 1024)",
                           option, text));
    }
    return size;
}

ProvisionRequest request_of(const NewResticServerArguments& a) {
    std::vector<std::string> problems;
    ProvisionRequest request;
    request.host = a.host;
    request.port = a.port;
    if (!a.server.empty()) {
        request.kind = parse_server_kind(a.server);
        if (!request.kind) {
            problems.push_back(fmt::format(
                "unable to use --server {}: expected versitygw or rest-server", a.server));
        }
    }
    if (!a.topology.empty()) {
        request.topology = parse_topology(a.topology);
        if (!request.topology) {
            problems.push_back(fmt::format(
                "unable to use --topology {}: expected dedicated or shared", a.topology));
        }
    }
    if (!problems.empty()) {
        throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    auto given = [](const std::string& s) {
        return s.empty() ? std::nullopt : std::optional<std::string>(s);
    };
    request.owner_user = given(a.user);
    request.owner_group = given(a.group);
    request.address = given(a.address);
    request.now = util::unix_now();
    if (a.append_only) {
        request.append_only = true;
    }
    if (!a.quota.empty()) {
        request.quota = size_of("--quota", a.quota);
    }
    request.remote_repository = a.remote_repository;
    request.remote_config = a.remote_config;
    request.poll_interval = a.poll_interval;
    request.event_port = a.event_port;
    if (a.remote_repository.empty() &&
        (!a.remote_config.empty() || a.poll_interval || a.event_port)) {
        refuse("unable to use --remote-config, --poll-interval or --event-port: they go with "
               "--remote-repository");
    }
    return request;
}

// Where the client's snapshots will be copied, and what each destination still needs.
std::string replicas_text(const ClientConfig& c) {
    if (c.destinations.empty()) {
        return "No replica is configured: every snapshot exists only here. Add destinations to\n"
               "  conf/client.yaml (or to the server config, for new clients).\n";
    }
    std::string text = "Replicas (backup-syncd copies every new snapshot there):\n";
    for (const auto& d : c.destinations) {
        text += d.is_local()
                    ? fmt::format("  {}: {} (made for {}, 0700, if it was missing)\n", d.name,
                                  d.path.string(), c.owner_user)
                    : fmt::format("  {}: {} (rclone: the remote must be configured for {})\n",
                                  d.name, d.remote, c.owner_user);
    }
    return text;
}

void print_remote_next_steps(const ProvisionResult& result) {
    const ClientConfig& c = result.config;
    print(fmt::format(
        "Provisioned {host}: a remote primary on {remote}, listed every {poll} s by "
        "backup-syncd\n"
        "  (no storage server here; the server reads the store with the key in {conf}).\n"
        "{events}"
        "To fill in:\n{notes}"
        "Next steps:\n"
        "  1. Enable it (runit starts backup-syncd within seconds):\n"
        "       ln -s {service} {link}\n"
        "  2. Copy the client's environ file to the client, mode 0600:\n"
        "       scp {environ} root@{host}:/etc/restic/environ\n"
        "  3. On {host}: make a repository password and the repository:\n"
        "       (umask 077; openssl rand -base64 32 > /etc/restic/repo-password)\n"
        "       restic-wrapper init\n{replicas}",
        fmt::arg("host", c.host), fmt::arg("remote", c.remote_repository),
        fmt::arg("poll", c.poll_interval_seconds),
        fmt::arg("events", c.event_port
                               ? fmt::format("backup-syncd takes the store's bucket events at "
                                             "http://127.0.0.1:{}/ (point the store's webhook "
                                             "there; start the store after backup-syncd).\n",
                                             *c.event_port)
                               : std::string()),
        fmt::arg("conf", (result.paths.secrets / "rclone.conf").string()),
        fmt::arg("notes", result.remote_notes), fmt::arg("service", result.paths.service.string()),
        fmt::arg("link", result.enable_link.string()),
        fmt::arg("environ", result.paths.environ_file.string()),
        fmt::arg("replicas", replicas_text(c))));
}

void print_next_steps(const ProvisionResult& result) {
    const ClientConfig& c = result.config;
    if (c.is_remote()) {
        return print_remote_next_steps(result);
    }
    std::error_code ec;
    bool ca = fs::exists(result.paths.ca_file, ec);
    print(fmt::format(
        "Provisioned {host}: {kind} ({topology}) on port {port}{tls}, repository {repo}\n"
        "Next steps:\n"
        "  1. Enable it (runit starts its services within seconds):\n"
        "       ln -s {service} {link}\n"
        "  2. Copy the client's environ file{and_ca} to the client, mode 0600:\n"
        "       scp {environ} root@{host}:/etc/restic/environ\n{ca_copy}"
        "  3. On {host}: make a repository password and the repository:\n"
        "       (umask 077; openssl rand -base64 32 > /etc/restic/repo-password)\n"
        "       restic-wrapper init\n"
        "  4. Once per server: the daily audit and the status checks, e.g. examples/\n"
        "     restic-audit.cron and backup-status-notify.cron (see the README).\n{replicas}",
        fmt::arg("replicas", replicas_text(c)), fmt::arg("host", c.host),
        fmt::arg("kind", to_string(c.kind)), fmt::arg("topology", to_string(c.topology)),
        fmt::arg("port", c.port), fmt::arg("tls", c.tls ? " (TLS)" : " (plain HTTP: tls is off)"),
        fmt::arg("repo", c.repository.string()), fmt::arg("service", result.paths.service.string()),
        fmt::arg("link", result.enable_link.string()),
        fmt::arg("environ", result.paths.environ_file.string()),
        fmt::arg("and_ca", ca ? " and the server's CA" : ""),
        fmt::arg("ca_copy",
                 ca ? fmt::format("       scp {} root@{}:{}\n", result.paths.ca_file.string(),
                                  c.host, result.ca_file_on_client)
                    : std::string())));
}

void print_removal(const std::string& host, const RemovedClient& removed) {
    if (!removed.remote_repository.empty()) {
        print(fmt::format("Removed {}; its repository on {} is left as it is.\n", host,
                          removed.remote_repository));
    } else {
        print(removed.kept_data.empty() ? fmt::format("Removed {} and its data.\n", host)
                                        : fmt::format("Removed {}; its data is kept in {}\n", host,
                                                      removed.kept_data.string()));
    }
    if (removed.destinations.empty()) {
        return;
    }
    std::string text = "Its destinations still hold its replicas (never deleted here); delete or "
                       "move them before a new client of that name uses them:\n";
    for (const auto& d : removed.destinations) {
        text += fmt::format("  {}: {}\n", d.name, d.is_local() ? d.path.string() : d.remote);
    }
    print(text);
}

void print_renewal(const ServerConfig& server, const RenewalReport& report) {
    for (const auto& r : report.renewed) {
        print(fmt::format("Renewed the certificate of {}: valid until {}.\n", r.instance,
                          util::format_time(r.not_after)));
    }
    if (!report.clients_needing_ca.empty()) {
        print("A new CA is made; the servers keep their certificates until the next "
              "--renew-certs.\nCopy each client's new CA file (trusting the old and the new CA) "
              "to it, then run\nnew-restic-server --renew-certs:\n");
        ServerLayout layout(server.root);
        for (const auto& host : report.clients_needing_ca) {
            print(fmt::format("  scp {} root@{}:{}\n", layout.client(host).ca_file.string(), host,
                              server.tls.client_ca_file));
        }
    } else if (report.renewed.empty()) {
        print("No storage server uses TLS: nothing was renewed.\n");
    }
}

void set_limits(const ServerConfig& server, const NewResticServerArguments& a) {
    std::optional<bool> append_only;
    if (!a.set_append_only.empty()) {
        if (a.set_append_only != "on" && a.set_append_only != "off") {
            refuse(fmt::format("unable to use --set-append-only {}: expected on or off",
                               a.set_append_only));
        }
        append_only = a.set_append_only == "on";
    }
    std::optional<std::optional<std::uint64_t>> quota;
    if (!a.set_quota.empty()) {
        quota = a.set_quota == "none" ? std::optional<std::uint64_t>()
                                      : size_of("--set-quota", a.set_quota);
    }
    auto config = util::value_or_throw(set_client_limits(server, a.host, append_only, quota));
    print(fmt::format("{}: append-only {}, quota {}; its rest-server was restarted to take them.\n",
                      a.host, config.append_only ? "on" : "off",
                      config.quota ? util::format_size(*config.quota) : std::string("none")));
}

// At most one operation, and a host for those that need one.
void check_operation(const NewResticServerArguments& a) {
    bool limits = !a.set_append_only.empty() || !a.set_quota.empty();
    bool certs = a.renew_certs || a.rotate_ca;
    if (int(a.remove) + int(a.rotate) + int(a.disable) + int(a.enable) + int(limits) + int(certs) >
        1) {
        refuse("unable to parse the arguments: give at most one of --remove, --rotate-keys, "
               "--disable, --enable, --set-append-only/--set-quota, --renew-certs/--rotate-ca");
    }
    if (a.host.empty() && !certs) {
        refuse("unable to parse arguments: --host is required");
    }
}

} // namespace

util::ExitCode new_restic_server_command(const NewResticServerArguments& a) {
    ServerConfig server =
        util::value_or_throw(load_server_config(a.config_path, a.explicit_config));
    if (!a.root.empty()) {
        server.root = a.root;
    }
    if (a.systemd_unit) {
        print(util::value_or_throw(render_systemd_unit(server, a.stop_helper)));
        return ExitCode::ok;
    }
    check_operation(a);
    auto host = a.host.empty() ? std::nullopt : std::optional<std::string>(a.host);
    if (a.renew_certs || a.rotate_ca) {
        print_renewal(server, util::value_or_throw(renew_certificates(server, host, a.rotate_ca)));
    } else if (!a.set_append_only.empty() || !a.set_quota.empty()) {
        set_limits(server, a);
    } else if (a.disable || a.enable) {
        util::value_or_throw(set_client_access(server, a.host, a.enable));
        print(fmt::format("{} {}'s access to the shared storage server.\n",
                          a.enable ? "Enabled" : "Disabled", a.host));
    } else if (a.remove) {
        print_removal(a.host, util::value_or_throw(remove_client(server, a.host, a.delete_data)));
    } else if (a.rotate) {
        auto config = util::value_or_throw(rotate_client_keys(server, a.host));
        auto paths = ServerLayout(server.root).client(a.host);
        print(fmt::format("New keys for {}. Copy {} to {}:/etc/restic/environ (mode 0600); the "
                          "old keys no longer work.\n",
                          a.host, paths.environ_file.string(), config.host));
    } else {
        print_next_steps(util::value_or_throw(provision_client(server, request_of(a))));
    }
    return ExitCode::ok;
}

} // namespace backup::core
