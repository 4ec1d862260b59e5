#include "provision/ports.hpp"

#include <algorithm>

#include "model/shared.hpp"
#include "util/socket.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

std::vector<int> ports_in_use_by_clients(const ServerLayout& layout) {
    std::vector<int> ports;
    for (const auto& host : layout.clients().value_or(std::vector<std::string>{})) {
        auto config = load_client_config(layout.client(host).config_file.string());
        if (config && config->topology == Topology::dedicated) {
            ports.push_back(config->port);
        }
    }
    auto shared = shared_instance_ports(layout);
    ports.insert(ports.end(), shared.begin(), shared.end());
    return ports;
}

Expected<int> choose_port(const ServerConfig& server, const ServerLayout& layout,
                          std::optional<int> requested) {
    auto taken = ports_in_use_by_clients(layout);
    auto by_client = [&](int port) {
        return std::find(taken.begin(), taken.end(), port) != taken.end();
    };
    auto free_here = [&](int port) {
        return util::port_is_free(server.listen_address, port).value_or(false);
    };
    if (requested) {
        if (*requested < 1 || *requested > 65535) {
            return util::fail(ExitCode::permanent, "use port {}: not a port number", *requested);
        }
        if (by_client(*requested)) {
            return util::fail(ExitCode::permanent, "use port {}: another client has it",
                              *requested);
        }
        if (!free_here(*requested)) {
            return util::fail(ExitCode::permanent, "use port {}: it is in use on {}", *requested,
                              server.listen_address);
        }
        return *requested;
    }
    for (int port = server.port_min; port <= server.port_max; ++port) {
        if (!by_client(port) && free_here(port)) {
            return port;
        }
    }
    return util::fail(ExitCode::temporary, "find a free port in {}-{}", server.port_min,
                      server.port_max);
}

} // namespace backup::core
