// Clients as backup-status's renderers get them, for unit tests of the table, JSON and HTML.
#pragma once

#include <string>
#include <vector>

#include "status/status.hpp"

namespace backup::test {

// A dedicated rest-server client named host in state, with problems.
core::ClientInfo status_client(const std::string& host, core::ClientState state,
                               std::vector<core::Problem> problems = {});

} // namespace backup::test
