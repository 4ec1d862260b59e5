// versitygw's admin API, spoken by this process: the shared gateway's accounts and buckets.
#pragma once

#include "model/shared.hpp"
#include "util/error.hpp"
#include "util/http.hpp"

#include <chrono>
#include <map>
#include <string>

namespace backup::core {

// The XML bodies versitygw's admin API takes (encoding/xml of auth.Account and MutableProps).
std::string versitygw_account_xml(const std::string& access, const std::string& secret,
                                  const std::string& role);
std::string versitygw_secret_xml(const std::string& secret);

// versitygw's admin API (PATCH /create-user, /update-user, /delete-user, /<bucket>/create),
// signed with SigV4 by the root account and sent by this process: no secret is ever on a command
// line. It listens on a UNIX socket in the instance's 0700 secrets/ (--admin-port), so no client
// can reach it; instances made before that serve it on their S3 port. Errors are 111 when the
// gateway cannot be reached, 100 when it refuses.
class VersitygwAdmin {
public:
    // Reads the root keys from the shared instance's secrets/versitygw.env; the API on its
    // socket (secrets/admin.sock).
    static util::Expected<VersitygwAdmin> for_socket(const SharedPaths& paths);
    // The root keys from the envdir env (ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY), the API on
    // the UNIX socket socket: a dedicated gateway's.
    static util::Expected<VersitygwAdmin> for_envdir(const fs::path& env, const fs::path& socket);
    // The same, with the API on address:port (plain HTTP).
    static util::Expected<VersitygwAdmin> for_instance(const SharedPaths& paths,
                                                       const std::string& address, int port);

    util::Expected<void> create_user(const std::string& access, const std::string& secret) const;
    util::Expected<void> set_secret(const std::string& access, const std::string& secret) const;
    util::Expected<void> delete_user(const std::string& access) const;
    // Creates bucket owned by the account owner.
    util::Expected<void> create_bucket(const std::string& bucket, const std::string& owner) const;
    // Waits until the gateway's admin API accepts connections.
    util::Expected<void> wait_ready(std::chrono::seconds timeout) const;

private:
    util::Expected<util::HttpResponse> call(const std::string& method, const std::string& path,
                                            const std::map<std::string, std::string>& query,
                                            std::map<std::string, std::string> extra_headers,
                                            const std::string& body, const std::string& what) const;
    VersitygwAdmin(std::string socket, std::string address, int port, std::string root_access,
                   std::string root_secret)
        : m_socket(std::move(socket)), m_address(std::move(address)), m_port(port),
          m_root_access(std::move(root_access)), m_root_secret(std::move(root_secret)) {}
    std::string where() const;

    std::string m_socket; // empty: TCP to m_address:m_port
    std::string m_address;
    int m_port = 0;
    std::string m_root_access;
    std::string m_root_secret;
};

} // namespace backup::core
