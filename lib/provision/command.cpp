#include "provision/command.hpp"

#include <cstdio>

#include "model/config.hpp"
#include "provision/provision.hpp"

namespace backup::core {

using util::ExitCode;

namespace {

void print(const std::string& text) {
    std::fputs(text.c_str(), stdout);
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
    return request;
}

void print_next_steps(const ProvisionResult& result) {
    const ClientConfig& c = result.config;
    print(fmt::format("Provisioned {host}: {kind} ({topology}) on port {port}, repository {repo}\n"
                      "Next steps:\n"
                      "  1. Enable it (runit starts its services within seconds):\n"
                      "       ln -s {service} {link}\n"
                      "  2. Copy the client's environ file to the client, mode 0600:\n"
                      "       scp {environ} root@{host}:/etc/restic/environ\n"
                      "  3. On {host}: make a repository password and the repository:\n"
                      "       (umask 077; openssl rand -base64 32 > /etc/restic/repo-password)\n"
                      "       restic-wrapper init\n",
                      fmt::arg("host", c.host), fmt::arg("kind", to_string(c.kind)),
                      fmt::arg("topology", to_string(c.topology)), fmt::arg("port", c.port),
                      fmt::arg("repo", c.repository.string()),
                      fmt::arg("service", result.paths.service.string()),
                      fmt::arg("link", result.enable_link.string()),
                      fmt::arg("environ", result.paths.environ_file.string())));
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
    if (a.host.empty()) {
        throw util::Fatal(
            util::Error(ExitCode::permanent, "unable to parse arguments: --host is required"));
    }
    if (int(a.remove) + int(a.rotate) + int(a.disable) + int(a.enable) > 1) {
        throw util::Fatal(util::Error(ExitCode::permanent,
                                      "unable to parse the arguments: give at most one of "
                                      "--remove, --rotate-keys, --disable, --enable"));
    }
    if (a.disable || a.enable) {
        util::value_or_throw(set_client_access(server, a.host, a.enable));
        print(fmt::format("{} {}'s access to the shared storage server.\n",
                          a.enable ? "Enabled" : "Disabled", a.host));
    } else if (a.remove) {
        auto kept = util::value_or_throw(remove_client(server, a.host, a.delete_data));
        print(kept.empty()
                  ? fmt::format("Removed {} and its data.\n", a.host)
                  : fmt::format("Removed {}; its data is kept in {}\n", a.host, kept.string()));
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
