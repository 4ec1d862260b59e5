// new-restic-server: provision, remove, or rotate the keys of a backup client.
#include <cstdio>

#include "core/provision.hpp"
#include "util/cli.hpp"

using namespace backup;

int main(int argc, char** argv) {
    CLI::App app{"Provision a restic backup client on this server: its own storage server "
                 "instance (versitygw or rest-server) on its own port with its own credentials "
                 "(topology dedicated), or a user of its own on the shared instance of that kind "
                 "(topology shared), runit service directories under ROOT/systems/HOST, and the "
                 "environ file the client needs. Nothing is left behind if it fails; an existing "
                 "client is never overwritten.",
                 "new-restic-server"};
    std::string host, config_path = std::string(core::k_default_server_config), root, server,
                user, group, address, topology;
    std::optional<int> port;
    bool remove = false, delete_data = false, rotate = false, disable = false, enable = false;
    app.add_option("-H,--host", host, "client host name (lowercase DNS name)")->required();
    app.add_option("-p,--port", port, "port of the client's storage server (default: the first "
                                      "free one in the configured range)");
    app.add_option("--server", server, "storage server kind")
        ->check(CLI::IsMember({"versitygw", "rest-server"}));
    app.add_option("--topology", topology,
                   "dedicated: a storage server of the client's own; shared: a user on the one "
                   "shared instance of the kind, created with the first such client (default "
                   "from the config, else dedicated)")
        ->check(CLI::IsMember({"dedicated", "shared"}));
    app.add_option("-U,--user", user, "user the client's services run as");
    app.add_option("-G,--group", group, "group the client's services run as");
    app.add_option("-c,--config", config_path, "server-wide YAML config")->capture_default_str();
    app.add_option("--root", root, "server root (default from the config, else /backups)");
    app.add_option("--address", address,
                   "address clients connect to (default: public_address, else this host's name)");
    app.add_flag("--remove", remove,
                 "remove the client (refused while it is enabled); its data is kept under "
                 "ROOT/systems/removed/ unless --delete-data");
    app.add_flag("--delete-data", delete_data, "with --remove: delete the repository too");
    app.add_flag("--rotate-keys", rotate,
                 "make new credentials for the client, restart its dedicated storage server "
                 "(a shared one is not restarted), rewrite its environ file; the old credentials "
                 "stop working");
    app.add_flag("--disable", disable,
                 "shared client: its credentials stop working on the shared instance (no "
                 "restart); its data and services stay");
    app.add_flag("--enable", enable, "shared client: undo --disable");
    util::describe_tool(app,
                        "After provisioning: enable the client with the printed 'ln -s' line, copy "
                        "ROOT/systems/HOST/client/environ to the client's /etc/restic/environ "
                        "(mode 0600) and run 'restic-wrapper init' there.");
    bool explicit_config = false;
    app.parse_complete_callback([&] { explicit_config = app.count("--config") > 0; });

    return util::run_tool("new-restic-server", app, argc, argv, [&] {
        auto server_config =
            util::value_or_throw(core::load_server_config(config_path, explicit_config));
        if (!root.empty()) {
            server_config.root = root;
        }
        if (static_cast<int>(remove) + static_cast<int>(rotate) + static_cast<int>(disable) +
                static_cast<int>(enable) >
            1) {
            throw util::Fatal(util::Error(
                util::ExitCode::permanent,
                "unable to parse the arguments: give at most one of --remove, --rotate-keys, "
                "--disable, --enable"));
        }
        if (disable || enable) {
            util::value_or_throw(core::set_client_access(server_config, host, enable));
            std::printf("%s", fmt::format("{} {}'s access to the shared storage server.\n",
                                          enable ? "Enabled" : "Disabled", host)
                                  .c_str());
            return util::ExitCode::ok;
        }
        if (remove) {
            auto kept = util::value_or_throw(core::remove_client(server_config, host, delete_data));
            std::printf("%s", kept.empty()
                                  ? fmt::format("Removed {} and its data.\n", host).c_str()
                                  : fmt::format("Removed {}; its data is kept in {}\n", host,
                                                kept.string())
                                        .c_str());
            return util::ExitCode::ok;
        }
        if (rotate) {
            auto config = util::value_or_throw(core::rotate_client_keys(server_config, host));
            auto paths = core::ServerLayout(server_config.root).client(host);
            std::printf("%s",
                        fmt::format("New keys for {}. Copy {} to {}:/etc/restic/environ (mode "
                                    "0600); the old keys no longer work.\n",
                                    host, paths.environ_file.string(), config.host)
                            .c_str());
            return util::ExitCode::ok;
        }
        core::ProvisionRequest request;
        request.host = host;
        request.port = port;
        if (!server.empty()) {
            request.kind = core::parse_server_kind(server);
        }
        if (!topology.empty()) {
            request.topology = core::parse_topology(topology);
        }
        if (!user.empty()) {
            request.owner_user = user;
        }
        if (!group.empty()) {
            request.owner_group = group;
        }
        if (!address.empty()) {
            request.address = address;
        }
        auto result = util::value_or_throw(core::provision_client(server_config, request));
        std::printf(
            "%s",
            fmt::format("Provisioned {host}: {kind} ({topology}) on port {port}, repository {repo}\n"
                        "Next steps:\n"
                        "  1. Enable it (runit starts its services within seconds):\n"
                        "       ln -s {service} {link}\n"
                        "  2. Copy the client's environ file to the client, mode 0600:\n"
                        "       scp {environ} root@{host}:/etc/restic/environ\n"
                        "  3. On {host}: make a repository password and the repository:\n"
                        "       (umask 077; openssl rand -base64 32 > /etc/restic/repo-password)\n"
                        "       restic-wrapper init\n",
                        fmt::arg("host", host), fmt::arg("kind", core::to_string(result.config.kind)),
                        fmt::arg("topology", core::to_string(result.config.topology)),
                        fmt::arg("port", result.config.port),
                        fmt::arg("repo", result.config.repository.string()),
                        fmt::arg("service", result.paths.service.string()),
                        fmt::arg("link", result.enable_link.string()),
                        fmt::arg("environ", result.paths.environ_file.string()))
                .c_str());
        return util::ExitCode::ok;
    });
}
