// The port registry: every client.yaml's port is taken, only changed client.yaml files are read
// again, a removed client's port is free, and a lost or broken registry is rebuilt.
#include "provision/port_registry.hpp"
#include "provision/ports.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sys/stat.h>

using namespace backup;
using namespace backup::core;

namespace {

// A client.yaml as new-restic-server writes it, with its times set in the past (as any
// client.yaml but the one just written is), so the registry trusts its identity.
void write_client(const ServerLayout& layout, const std::string& host, int port,
                  Topology topology = Topology::dedicated) {
    ClientConfig c;
    c.host = host;
    c.topology = topology;
    c.kind = ServerKind::rest_server;
    c.address = "127.0.0.1";
    c.port = port;
    c.user = host;
    c.repository = layout.client(host).data / host;
    c.owner_user = "nobody";
    c.owner_group = "nogroup";
    auto paths = layout.client(host);
    fs::create_directories(paths.conf);
    REQUIRE(util::atomic_write(paths.config_file.string(), render_client_config(c), 0644));
}

// Waits until every client.yaml is older than the registry's racy window (100 ms).
void let_settle() {
    timespec t{0, 150'000'000};
    ::nanosleep(&t, nullptr);
}

std::vector<int> sorted(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace

TEST_CASE("ports: the registry follows the client.yaml files, reading only what changed",
          "[ports]") {
    auto dir = util::TempDir::create_in_tmp("unit-ports");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    fs::create_directories(layout.systems());
    for (int i = 1; i <= 5; ++i) {
        write_client(layout, fmt::format("host{}", i), 30000 + i);
    }
    write_client(layout, "shared1", 30100, Topology::shared);
    let_settle();

    auto first = ports_in_use_by_clients(layout);
    REQUIRE(first);
    CHECK(sorted(first->ports) == std::vector<int>{30001, 30002, 30003, 30004, 30005});
    CHECK(first->configs_read == 6);
    fs::path registry = layout.systems() / std::string(k_port_registry_file);
    struct stat st {};
    REQUIRE(::stat(registry.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    auto again = ports_in_use_by_clients(layout);
    REQUIRE(again);
    CHECK(sorted(again->ports) == sorted(first->ports));
    CHECK(again->configs_read == 0);

    // A client added behind the tool's back, one whose port was edited, one removed.
    write_client(layout, "copied", 30050);
    write_client(layout, "host2", 30020);
    fs::remove_all(layout.client("host3").dir);
    auto changed = ports_in_use_by_clients(layout);
    REQUIRE(changed);
    CHECK(sorted(changed->ports) == std::vector<int>{30001, 30004, 30005, 30020, 30050});
    CHECK(changed->configs_read == 2);

    // Entries of files changed just now may be read once more; then none is.
    let_settle();
    REQUIRE(ports_in_use_by_clients(layout));
    auto settled = ports_in_use_by_clients(layout);
    REQUIRE(settled);
    CHECK(settled->configs_read == 0);
    CHECK(sorted(settled->ports) == sorted(changed->ports));
}

TEST_CASE("ports: a lost or broken registry is rebuilt from every client.yaml", "[ports]") {
    auto dir = util::TempDir::create_in_tmp("unit-ports");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    fs::create_directories(layout.systems());
    write_client(layout, "web1", 31000);
    write_client(layout, "web2", 31001);
    let_settle();
    REQUIRE(ports_in_use_by_clients(layout));
    fs::path registry = layout.systems() / std::string(k_port_registry_file);

    for (std::string broken : {"", "{\"schema\": 1, \"clients\": {\"web1\": {\"port\": 0}}}",
                               "{\"schema\": 2, \"clients\": {}}", "not json"}) {
        INFO(broken);
        if (broken.empty()) {
            fs::remove(registry);
        } else {
            REQUIRE(util::atomic_write(registry.string(), broken, 0600));
            CHECK_FALSE(read_port_registry(registry.string()));
        }
        auto rebuilt = ports_in_use_by_clients(layout);
        REQUIRE(rebuilt);
        CHECK(sorted(rebuilt->ports) == std::vector<int>{31000, 31001});
        CHECK(rebuilt->configs_read == 2);
        auto read = read_port_registry(registry.string());
        REQUIRE(read);
        REQUIRE(*read);
        CHECK((*read)->clients.at("web2").port == 31001);
    }
}

TEST_CASE("ports: a port in a client.yaml is never chosen, a removed client's is", "[ports]") {
    auto dir = util::TempDir::create_in_tmp("unit-ports");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    fs::create_directories(layout.systems());
    ServerConfig server;
    server.root = dir->path();
    server.listen_address = "127.0.0.1";
    server.port_min = 39500;
    server.port_max = 39999;
    write_client(layout, "web1", 39500);
    write_client(layout, "web2", 39501);
    // Lowest free port first; the first two are taken by the client.yaml files alone (no
    // server listens on them).
    auto port = choose_port(server, layout, std::nullopt);
    REQUIRE(port);
    CHECK(*port >= 39502);
    auto requested = choose_port(server, layout, 39501);
    REQUIRE_FALSE(requested);
    CHECK(requested.error().message().find("another client has it") != std::string::npos);
    fs::remove_all(layout.client("web1").dir);
    // Free again for the registry (whatever else on this machine may listen on it).
    auto freed = choose_port(server, layout, 39500);
    CHECK((freed || freed.error().message().find("another client") == std::string::npos));
}
