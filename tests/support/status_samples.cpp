#include "support/status_samples.hpp"

namespace backup::test {

core::ClientInfo status_client(const std::string& host, core::ClientState state,
                               std::vector<core::Problem> problems) {
    core::ClientInfo c;
    c.host = host;
    c.kind = "rest-server";
    c.topology = "dedicated";
    c.state = state;
    c.problems = std::move(problems);
    return c;
}

} // namespace backup::test
