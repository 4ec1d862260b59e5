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

#include "model/config.hpp"
#include "model/layout.hpp"
#include "util/error.hpp"

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
    fs::path certificate;     // tls/cert.pem (0644)
    fs::path certificate_key; // secrets/tls-key.pem (0600)
    fs::path admin_socket;    // secrets/admin.sock: versitygw's admin API, reached only here
};

// The shared instance of kind under the root, or laid out below another directory (staging).
SharedPaths shared_paths(const ServerLayout& layout, ServerKind kind);
SharedPaths shared_paths_at(const fs::path& dir);
// "_shared-versitygw", "_shared-rest-server": the name of its link in the scan directory.
std::string shared_service_name(ServerKind kind);

struct SharedInstance {
    ServerKind kind = ServerKind::versitygw;
    int port = 0;
    bool tls = false;          // an instance made before TLS: plain HTTP
    bool admin_socket = false; // versitygw's admin API on its socket (else on the S3 port)
};

std::string render_shared_config(const SharedInstance& instance);
// Reads shared.yaml; problems are reported with file, line and key (100).
util::Expected<SharedInstance> load_shared_config(const std::string& path);
// The ports of every shared instance under the root.
std::vector<int> shared_instance_ports(const ServerLayout& layout);

// The htpasswd file of a shared rest-server: the given "user:hash" lines, sorted by user, one
// per line. A line without ':' or a user twice is an error (100).
util::Expected<std::string> compose_htpasswd(std::vector<std::string> lines);

} // namespace backup::core
