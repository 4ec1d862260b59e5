// The ports of storage server instances: which are taken, and the choice of a free one.
#pragma once

#include <optional>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "util/error.hpp"

namespace backup::core {

// Ports other provisioned clients (dedicated instances) and the shared instances use.
std::vector<int> ports_in_use_by_clients(const ServerLayout& layout);

// The requested port when no client has it and it is free on the listen address (100 when not),
// else the first such port of the configured range (111 when none is left).
util::Expected<int> choose_port(const ServerConfig& server, const ServerLayout& layout,
                                std::optional<int> requested);

} // namespace backup::core
