#include "provision/provision.hpp"

#include "provision/clients.hpp"
#include "provision/plan.hpp"
#include "provision/services.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<ClientConfig> set_client_limits(const ServerConfig& server, const std::string& host,
                                         std::optional<bool> append_only,
                                         std::optional<std::optional<std::uint64_t>> quota) {
    ServerLayout layout(server.root);
    ClientConfig config = TRY(existing_client(layout, host));
    if (config.kind != ServerKind::rest_server || config.topology != Topology::dedicated) {
        return util::fail(ExitCode::permanent,
                          "change the limits of {}: append-only and quota are limits of a "
                          "dedicated rest-server (this client has a {} {})",
                          host, to_string(config.topology), to_string(config.kind));
    }
    auto lock = TRY(lock_server(layout));
    if (append_only) {
        config.append_only = *append_only;
    }
    if (quota) {
        config.quota = *quota;
    }
    // The run script again, with the programs and owner of today.
    Owner owner = TRY(resolve_owner(config.owner_user, config.owner_group));
    Programs programs = TRY(resolve_programs(server, config.kind));
    ClientPlan plan = plan_client(server, config, owner, programs, Credentials{config.user, ""});
    ClientPaths paths = layout.client(host);
    fs::path service = paths.services / plan.storage_service;
    TRY(write_file(paths.config_file, render_client_config(config), 0644));
    TRY(render_to(service / "run", plan.storage_service + "/run", plan.values, 0755));
    TRY(sv_command(service, "restart"));
    return config;
}

} // namespace backup::core
