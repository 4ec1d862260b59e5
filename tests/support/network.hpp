// A client host of its own for end-to-end tests: a network namespace joined to this one by a
// veth pair, with addresses only on that pair. A program run in it reaches this machine only
// through the server's address on the pair, as a client host reaches a backup server: nothing
// works by accident over loopback.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace backup::test {

class NetworkNamespace {
public:
    // Makes the namespace and the pair, or returns nullopt with the reason in why (not root, no
    // ip(8), namespaces not allowed here).
    static std::optional<NetworkNamespace> create(std::string& why);
    NetworkNamespace(NetworkNamespace&& other) noexcept;
    NetworkNamespace(const NetworkNamespace&) = delete;
    NetworkNamespace& operator=(const NetworkNamespace&) = delete;
    ~NetworkNamespace();

    const std::string& name() const { return m_name; }
    // This machine's address on the pair (the server's public address) and the client's.
    const std::string& server_address() const { return m_server_address; }
    const std::string& client_address() const { return m_client_address; }
    // The command prefix that runs a program in the namespace.
    std::vector<std::string> exec_prefix() const;

private:
    NetworkNamespace() = default;
    void remove();

    std::string m_name;
    std::string m_host_link;
    std::string m_server_address;
    std::string m_client_address;
};

} // namespace backup::test
