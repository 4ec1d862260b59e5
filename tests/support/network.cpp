#include "support/network.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/random.hpp"

namespace backup::test {

namespace {

// Runs ip with args; its error output, or empty on success.
std::string ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    util::SpawnOptions o;
    o.argv = args;
    o.env = base_environment();
    o.env["PATH"] += ":/usr/sbin:/sbin";
    auto r = util::run(o);
    if (!r) {
        return r.error().message();
    }
    return r->success() ? std::string() : fmt::format("ip {}: {}", fmt::join(args, " "), r->err);
}

} // namespace

std::optional<NetworkNamespace> NetworkNamespace::create(std::string& why) {
    if (::geteuid() != 0) {
        why = "network namespaces need root";
        return std::nullopt;
    }
    auto random = util::random_bytes(3);
    REQUIRE(random);
    auto byte = [&](int i) { return static_cast<unsigned char>((*random)[i]); };
    NetworkNamespace ns;
    std::string tag = fmt::format("{:02x}{:02x}{:02x}", byte(0), byte(1), byte(2));
    ns.m_name = "rbt-" + tag;
    ns.m_host_link = "rbt" + tag + "a";
    std::string peer = "rbt" + tag + "b";
    // A /30 of 10.200.0.0/14 picked at random: tests in parallel get their own.
    int block = (byte(0) % 4) * 65536 + byte(1) * 256 + (byte(2) & 0xfc);
    auto address = [&](int host) {
        int n = block + host;
        return fmt::format("10.{}.{}.{}", 200 + n / 65536, (n / 256) % 256, n % 256);
    };
    ns.m_server_address = address(1);
    ns.m_client_address = address(2);
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"netns", "add", ns.m_name},
             {"link", "add", ns.m_host_link, "type", "veth", "peer", "name", peer},
             {"link", "set", peer, "netns", ns.m_name},
             {"addr", "add", ns.m_server_address + "/30", "dev", ns.m_host_link},
             {"link", "set", ns.m_host_link, "up"},
             {"-n", ns.m_name, "addr", "add", ns.m_client_address + "/30", "dev", peer},
             {"-n", ns.m_name, "link", "set", peer, "up"},
             {"-n", ns.m_name, "link", "set", "lo", "up"}}) {
        if (std::string error = ip(step); !error.empty()) {
            why = error;
            ns.remove();
            return std::nullopt;
        }
    }
    return ns;
}

NetworkNamespace::NetworkNamespace(NetworkNamespace&& other) noexcept
    : m_name(std::move(other.m_name)), m_host_link(std::move(other.m_host_link)),
      m_server_address(std::move(other.m_server_address)),
      m_client_address(std::move(other.m_client_address)) {
    other.m_name.clear();
    other.m_host_link.clear();
}

NetworkNamespace::~NetworkNamespace() {
    remove();
}

void NetworkNamespace::remove() {
    // The link goes with the namespace's end of it; both may be gone already.
    if (!m_host_link.empty()) {
        (void)ip({"link", "del", m_host_link});
    }
    if (!m_name.empty()) {
        (void)ip({"netns", "del", m_name});
    }
    m_name.clear();
    m_host_link.clear();
}

std::vector<std::string> NetworkNamespace::exec_prefix() const {
    return {"/usr/sbin/ip", "netns", "exec", m_name};
}

} // namespace backup::test
