// The shared topology: one storage server instance per kind serving every client that chose
// it, each client with its own user (rest-server: an htpasswd user and its --private-repos path;
// versitygw: an IAM account with the `user` role owning one bucket).
//
// Layout, outside <root>/systems so nothing that iterates the clients mistakes it for one:
//   <root>/shared/<kind>/shared.yaml  kind and port
//   <root>/shared/<kind>/service/     the runit service (run, log/run), enabled by the link
//                                     <root>/systems/conf/runit/_shared-<kind> ('_' is never in
//                                     a host name)
//   <root>/shared/<kind>/secrets/     0700: versitygw.env/ (root keys, an envdir), htpasswd
//   <root>/shared/<kind>/data/        the repositories: <bucket>/ or <user>/
//   <root>/shared/<kind>/iam/         versitygw's internal IAM (--iam-dir), 0700
//   <root>/shared/<kind>/logs/<kind>/ svlogd
#pragma once

#include "core/config.hpp"
#include "core/layout.hpp"
#include "util/error.hpp"
#include "util/http.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace backup::core {

struct SharedPaths {
    fs::path dir;
    fs::path config_file; // shared.yaml
    fs::path service;
    fs::path secrets;
    fs::path data;
    fs::path iam;
    fs::path logs;
};

// The shared instance of kind under the root, or laid out below another directory (staging).
SharedPaths shared_paths(const ServerLayout& layout, ServerKind kind);
SharedPaths shared_paths_at(const fs::path& dir);
// "_shared-versitygw", "_shared-rest-server": the name of its link in the scan directory.
std::string shared_service_name(ServerKind kind);

struct SharedInstance {
    ServerKind kind = ServerKind::versitygw;
    int port = 0;
};

std::string render_shared_config(const SharedInstance& instance);
// Reads shared.yaml; problems are reported with file, line and key (100).
util::Expected<SharedInstance> load_shared_config(const std::string& path);
// The ports of every shared instance under the root.
std::vector<int> shared_instance_ports(const ServerLayout& layout);

// The htpasswd file of a shared rest-server: the given "user:hash" lines, sorted by user, one
// per line. A line without ':' or a user twice is an error (100).
util::Expected<std::string> compose_htpasswd(std::vector<std::string> lines);

// The XML bodies versitygw's admin API takes (encoding/xml of auth.Account and MutableProps).
std::string versitygw_account_xml(const std::string& access, const std::string& secret,
                                  const std::string& role);
std::string versitygw_secret_xml(const std::string& secret);

// versitygw's admin API (PATCH /create-user, /update-user, /delete-user, /<bucket>/create) and
// S3 DeleteBucket, signed with SigV4 by the root account and sent over TCP by this process: no
// secret is ever on a command line. Errors are 111 when the gateway cannot be reached, 100 when
// it refuses.
class VersitygwAdmin {
public:
    VersitygwAdmin(std::string address, int port, std::string root_access, std::string root_secret)
        : m_address(std::move(address)), m_port(port), m_root_access(std::move(root_access)),
          m_root_secret(std::move(root_secret)) {}
    // Reads the root keys from the shared instance's secrets/versitygw.env.
    static util::Expected<VersitygwAdmin> for_instance(const SharedPaths& paths,
                                                       const std::string& address, int port);

    util::Expected<void> create_user(const std::string& access, const std::string& secret) const;
    util::Expected<void> set_secret(const std::string& access, const std::string& secret) const;
    util::Expected<void> delete_user(const std::string& access) const;
    // Creates bucket owned by the account owner.
    util::Expected<void> create_bucket(const std::string& bucket, const std::string& owner) const;
    util::Expected<void> delete_bucket(const std::string& bucket) const;
    // Waits until the gateway accepts connections.
    util::Expected<void> wait_ready(std::chrono::seconds timeout) const;

private:
    util::Expected<util::HttpResponse> call(const std::string& method, const std::string& path,
                                            const std::map<std::string, std::string>& query,
                                            std::map<std::string, std::string> extra_headers,
                                            const std::string& body, const std::string& what) const;
    std::string m_address;
    int m_port;
    std::string m_root_access;
    std::string m_root_secret;
};

} // namespace backup::core
