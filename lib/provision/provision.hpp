// Provisioning clients on the backup server (new-restic-server): the storage server instance,
// credentials, runit service directories, state directories and the client's environ file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "provision/credentials.hpp"
#include "util/error.hpp"

namespace backup::core {

struct ProvisionRequest {
    std::string host;
    std::optional<int> port;               // default: the first free one in the range
    std::optional<ServerKind> kind;        // default: the server config's
    std::optional<Topology> topology;      // default: the server config's
    std::optional<std::string> owner_user; // default: the server config's
    std::optional<std::string> owner_group;
    std::optional<std::string> address; // what the client connects to
    std::optional<bool> append_only;    // a dedicated rest-server's --append-only
    std::optional<std::uint64_t> quota; // a dedicated rest-server's --max-size
    std::optional<std::int64_t> now;    // recorded as the client's creation time (unix seconds)
    // A remote primary (--remote-repository NAME:PATH): no storage server here, only
    // backup-syncd listing it; the remote's rclone config (--remote-config; empty: a template to
    // fill in), how often it is listed, and the loopback port where backup-syncd takes the
    // store's bucket events (--event-port; none: it only lists).
    std::string remote_repository;
    std::string remote_config;
    std::optional<int> poll_interval;
    std::optional<int> event_port;
};

struct ProvisionResult {
    ClientConfig config;
    ClientPaths paths;
    fs::path enable_link;
    std::string ca_file_on_client; // where paths.ca_file goes on the client (RESTIC_CACERT)
    std::string remote_notes;      // a remote primary: what the operator still fills in
};

// Provisions a client. Everything is built in a staging directory under <root>/systems and
// renamed into place at the end: on any failure nothing of the client is left. An existing
// client is refused (100) and left unchanged; so are a bad host name, a port another client has
// or that is in use, and an owner that does not exist. Must run as root unless the owner is the
// current user.
//
// A dedicated client without a named owner (-U/-G, client_users: off) gets a system user of its
// own (system_user.hpp), made before anything is checked as it and deleted again on failure. A
// dedicated versitygw gets its account and bucket through its own admin API, on a gateway
// started for that from the staging directory (dedicated_gateway.hpp).
//
// Shared topology (see core/shared.hpp): the first shared client of a kind also creates the
// shared instance and links it into the scan directory (the instance is kept when the client
// fails). The client gets a user on it: versitygw, an account (role user) and a bucket it owns,
// made through the admin API, so the shared gateway must be running (111 otherwise); rest-server,
// an htpasswd entry, after which the shared htpasswd is rewritten and rest-server HUPed. A
// request port is refused for a shared client. If a step fails after the account was made, the
// account and bucket are deleted again; if the htpasswd cannot be written, the client directory
// is taken back.
util::Expected<ProvisionResult> provision_client(const ServerConfig& server,
                                                 const ProvisionRequest& request);
//
// A remote primary (request.remote_repository) gets no storage server, port or account: its
// conf/client.yaml names the remote, secrets/rclone.conf (0600, the service user's) holds the
// operator's rclone config (which must define the remote's name, else 100) or a template to fill
// in, its runsvdir holds only backup-syncd in listing mode, and client/environ names the bucket
// (s3 remotes with an endpoint) with placeholders for the client's own read-write key. Options
// of a storage server here (kind, topology, port, address, limits) are refused (100). Staged
// and checked as the service user like any client before anything is written.

// Removes a client (a remote primary's too: its repository on the store is not touched): refused
// (100) while the client is enabled (its link exists; for a shared client also while its access is
// enabled, see set_client_access) or any of its services still runs. A shared client's user goes
// first; its repository is moved out of the shared data directory like a dedicated client's data.
// Credentials, service directories and state go; the data is kept, moved to
// <root>/systems/removed/<host>-<UTC time>/data, unless delete_data. Returns where the data went
// (empty when deleted) and the client's destinations, which are never touched: they still hold its
// replicas.
struct RemovedClient {
    fs::path kept_data;
    std::vector<Destination> destinations;
    std::string remote_repository; // a remote primary's: left as it is on its store
};
util::Expected<RemovedClient> remove_client(const ServerConfig& server, const std::string& host,
                                            bool delete_data);

// Replaces a client's credentials and rewrites its environ file. A running dedicated storage
// server with root keys in the environ (rest-server, a versitygw made before accounts) is
// restarted (sv restart) to take them; a dedicated versitygw account gets a new secret through
// its gateway's admin API (the running one, or one started for the call). A shared one is not:
// versitygw gets the new secret through the admin API (the access key stays), rest-server's
// htpasswd is rewritten and HUPed. The old credentials stop working.
util::Expected<ClientConfig> rotate_client_keys(const ServerConfig& server,
                                                const std::string& host);

// Disables (enabled = false) or enables again a shared client's access to the shared instance,
// without a restart: its credentials stop working, its data and services stay. The state is the
// file conf/access-disabled. Refused (100) for a dedicated client: remove its link instead.
// Doing what is already done succeeds.
// What renew_certificates did.
struct RenewalReport {
    struct Renewed {
        std::string instance;   // a client's name, or "the shared versitygw"
        std::int64_t not_after; // when its new certificate expires
    };
    std::vector<Renewed> renewed;
    std::vector<std::string> clients_needing_ca; // after a CA rotation: copy their CA file
};

// New certificates for the storage servers: of one client (its own instance, or the shared
// instance it is on), or of every TLS instance; each is loaded without losing a running backup
// where the server allows it (versitygw: SIGHUP; rest-server: a restart, which restic retries
// through). With rotate_ca, instead: a new CA (the server's own), and every TLS client's
// client/backup-ca.pem rewritten to trust it beside the old one (the report names them); the
// servers keep their certificates until the next renewal, so nothing breaks while the new CA
// files travel to the clients.
util::Expected<RenewalReport> renew_certificates(const ServerConfig& server,
                                                 const std::optional<std::string>& host,
                                                 bool rotate_ca);

// Changes the limits of a dedicated rest-server client (append_only, quota: nullopt keeps the
// value; a quota of nullopt inside removes it): rewrites its client.yaml and its run script, and
// restarts it when it runs. Refused (100) for any other kind of client.
util::Expected<ClientConfig> set_client_limits(const ServerConfig& server, const std::string& host,
                                               std::optional<bool> append_only,
                                               std::optional<std::optional<std::uint64_t>> quota);

// The systemd unit that runs the server's top-level runsvdir, for server.root, with the stop
// helper at stop_helper (empty: restic-backup-stop next to this program, else from PATH).
util::Expected<std::string> render_systemd_unit(const ServerConfig& server,
                                                const std::string& stop_helper);

util::Expected<void> set_client_access(const ServerConfig& server, const std::string& host,
                                       bool enabled);

} // namespace backup::core
