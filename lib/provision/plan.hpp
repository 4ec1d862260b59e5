// What provisioning a client makes, worked out before anything is written: its configuration,
// paths, credentials and the values of its run scripts. Pure, so that a unit test can check it
// without root or a server.
#pragma once

#include <string>
#include <string_view>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "provision/credentials.hpp"
#include "provision/owner.hpp"
#include "provision/provision.hpp"
#include "provision/services.hpp"
#include "util/error.hpp"

namespace backup::core {

// The programs the services of a client run, as absolute paths.
struct Programs {
    std::string storage;   // versitygw or rest-server
    std::string syncd;     // backup-syncd
    std::string replicate; // restic-replicate
};

// A program's absolute path: configured when not empty; else, for one of the toolkit's own
// (ours), the one next to the running executable, for another the one installed with the
// toolkit (util::bundled_program); else from PATH (100 when not found, saying that
// binaries.NAME names it).
util::Expected<std::string> resolve_program(const std::string& configured, const std::string& name,
                                            bool ours);

// The programs: as the server config names them, else the toolkit's own next to the running
// executable, else from PATH. One not found is an error (100) saying how to name it.
util::Expected<Programs> resolve_programs(const ServerConfig& server, ServerKind kind);

// A new client's configuration from the server config and the request: kind, topology, owner
// (empty for a dedicated client that gets a user of its own: no -U/-G, client_users on),
// address (the request's, else default_address), audit fraction, and the server's
// destinations with "{host}" replaced. Port, user, bucket and repository come with plan_client.
ClientConfig initial_client_config(const ServerConfig& server, const ProvisionRequest& request,
                                   std::string_view default_address);

struct ClientPlan {
    ClientConfig config;         // what conf/client.yaml will say
    ClientPaths paths;           // where it goes
    Credentials credentials;     // what the client gets
    Credentials gateway_root;    // a dedicated versitygw's root keys (kept on the server)
    std::string storage_program; // versitygw or rest-server, as the run script names it
    bool shared = false;
    std::string storage_service; // "versitygw" or "rest-server"
    TemplateValues values;       // for every run script of the client
};

// Completes config (its port, tls and limits set) into the plan: the user (rest-server: the
// host; versitygw: the access key of the client's account, on the shared gateway or on its
// dedicated one, whose root keys are gateway_root), the bucket
// (the host, with "-restic" appended below 3 characters), the repository directory, and the
// template values of the run scripts.
ClientPlan plan_client(const ServerConfig& server, ClientConfig config, const Owner& owner,
                       const Programs& programs, Credentials credentials,
                       Credentials gateway_root = {});

// A remote primary's plan (config.is_remote()): its paths and the values of its run scripts,
// backup-syncd's in listing mode among them (REMOTE, RCLONE_CONFIG, POLL_INTERVAL); no
// storage server, credentials or repository directory.
ClientPlan plan_remote_client(const ServerConfig& server, ClientConfig config, const Owner& owner,
                              const Programs& programs);

} // namespace backup::core
