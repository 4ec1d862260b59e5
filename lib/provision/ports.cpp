#include "provision/ports.hpp"

#include <ctime>
#include <set>

#include "model/shared.hpp"
#include "provision/port_registry.hpp"
#include "util/socket.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// A client.yaml changed this recently may change again within the same tick of the file system's
// clock without its times showing it: its entry is read again next time.
constexpr std::int64_t k_racy_ns = 100'000'000;

std::int64_t realtime_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// A client's entry as its client.yaml says now.
PortRegistryEntry read_entry(const fs::path& config_file, std::optional<FileIdentity> identity) {
    PortRegistryEntry entry;
    auto config = load_client_config(config_file.string());
    if (config && config->topology == Topology::dedicated && !config->is_remote()) {
        entry.port = config->port;
    }
    if (config && config->is_remote()) {
        entry.port = config->event_port; // backup-syncd's, on 127.0.0.1
    }
    if (identity && identity->ctime_ns < realtime_ns() - k_racy_ns) {
        entry.config = identity;
    }
    return entry;
}

} // namespace

Expected<PortsInUse> ports_in_use_by_clients(const ServerLayout& layout) {
    std::string file = (layout.systems() / std::string(k_port_registry_file)).string();
    // An unreadable or invalid registry is only a cache lost: rebuilt from every client.yaml.
    auto cached = read_port_registry(file);
    PortRegistry old = cached && *cached ? std::move(**cached) : PortRegistry{};
    bool rewrite = !cached || !*cached;
    PortRegistry now;
    PortsInUse in_use;
    for (const auto& host : TRY(layout.clients())) {
        fs::path config_file = layout.client(host).config_file;
        auto identity = file_identity(config_file);
        auto known = old.clients.find(host);
        if (known != old.clients.end() && known->second.config &&
            known->second.config == identity) {
            now.clients.emplace(host, known->second);
        } else {
            now.clients.emplace(host, read_entry(config_file, identity));
            ++in_use.configs_read;
            rewrite = true;
        }
        if (auto port = now.clients.at(host).port) {
            in_use.ports.push_back(*port);
        }
    }
    rewrite = rewrite || now.clients.size() != old.clients.size();
    if (rewrite) {
        TRY(write_port_registry(file, now));
    }
    auto shared = shared_instance_ports(layout);
    in_use.ports.insert(in_use.ports.end(), shared.begin(), shared.end());
    return in_use;
}

Expected<int> choose_port(const ServerConfig& server, const ServerLayout& layout,
                          std::optional<int> requested) {
    auto in_use = TRY(ports_in_use_by_clients(layout));
    std::set<int> taken(in_use.ports.begin(), in_use.ports.end());
    auto by_client = [&](int port) { return taken.contains(port); };
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
