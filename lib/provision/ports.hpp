// The ports of storage server instances: which are taken, and the choice of a free one.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "util/error.hpp"

namespace backup::core {

struct PortsInUse {
    std::vector<int> ports;       // every dedicated client's and every shared instance's
    std::size_t configs_read = 0; // client.yaml files read: those new or changed since last time
};

// Ports other provisioned clients (dedicated instances) and the shared instances use, from the
// port registry (port_registry.hpp) brought up to date: only a client.yaml that is new or changed
// since the registry was written is read, and a removed client's port is free again. Call it
// under the provisioning lock (it rewrites the registry when anything changed).
util::Expected<PortsInUse> ports_in_use_by_clients(const ServerLayout& layout);

// The requested port when no client has it and it is free on the listen address (100 when not),
// else the first such port of the configured range (111 when none is left).
util::Expected<int> choose_port(const ServerConfig& server, const ServerLayout& layout,
                                std::optional<int> requested);

} // namespace backup::core
