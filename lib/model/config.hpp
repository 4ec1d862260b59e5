// The two configuration files of the backup server:
// - the server-wide config (optional, YAML; new-restic-server -c): defaults for provisioning;
// - each client's conf/client.yaml: what was provisioned for it, read by every server-side tool
//   (backup-syncd, restic-replicate, restic-audit, backup-status).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/defaults.hpp"
#include "model/status_settings.hpp"
#include "util/error.hpp"
#include "util/yaml.hpp"

namespace backup::core {

namespace fs = std::filesystem;

inline constexpr int k_client_config_schema = 1;

enum class ServerKind { versitygw, rest_server };
enum class Topology { dedicated, shared };

std::string_view to_string(ServerKind kind);
std::string_view to_string(Topology topology);
std::optional<ServerKind> parse_server_kind(std::string_view text);
std::optional<Topology> parse_topology(std::string_view text);

// Where replicas go: a local directory or an rclone remote ("b2:bucket/web1"), whose
// credentials come from rclone's config file or RCLONE_CONFIG_* variables, never from here.
struct Destination {
    // Not an aggregate, so that {name, path, remote} stays the short form as fields are added.
    Destination(std::string name_ = {}, fs::path path_ = {}, std::string remote_ = {})
        : name(std::move(name_)), path(std::move(path_)), remote(std::move(remote_)) {}

    std::string name;   // [a-z0-9_-]{1,32}, unique per client
    fs::path path;      // absolute local path, or empty
    std::string remote; // rclone remote "name:path", or empty
    // keep_deleted: a file copied from the source and then deleted there is deleted here this
    // long after a run first saw it gone; nullopt is "forever" (never delete), the default.
    std::optional<std::chrono::seconds> keep_deleted;
    // hold_deletions_above: a run that would delete more than this share (percent) of the
    // destination's snapshots, or more than this many bytes, holds its deletions for a person
    // (restic-replicate --confirm-deletions).
    int hold_above_percent = k_default_hold_deletions_percent;
    std::optional<std::uint64_t> hold_above_bytes;
    bool is_local() const { return !path.empty(); }
};

// "forever" or a duration ("4d"): the YAML and command-line form of keep_deleted.
std::optional<std::optional<std::chrono::seconds>> parse_keep_deleted(std::string_view text);
std::string format_keep_deleted(const std::optional<std::chrono::seconds>& keep);

// Checks one destination; the errors name it. Used for both config files.
util::Expected<void> validate_destination(const Destination& destination);

// Checks an rclone remote "NAME:PATH" (what names it, e.g. "destination 'b2'", goes into the
// error): a named remote only, never a connection string, which would put credentials into the
// configuration and onto command lines; no "..". 100 otherwise.
util::Expected<void> validate_rclone_remote(std::string_view remote, std::string_view what);

struct ClientConfig {
    std::string host;
    ServerKind kind = ServerKind::versitygw;
    Topology topology = Topology::dedicated;
    std::string address;    // host name or IP the client connects to
    int port = 0;           // the storage server's port
    std::string user;       // rest-server user, or versitygw account (shared topology)
    std::string bucket;     // versitygw bucket (empty for rest-server)
    fs::path repository;    // the repository directory on this server (plain files)
    std::string owner_user; // services run as this user (chpst -u)
    std::string owner_group;
    // new-restic-server created owner_user (and its group) for this client alone, and removes it
    // with the client; false for a user the operator named, and in files made before the key.
    bool owner_created = false;
    std::vector<Destination> destinations;
    int audit_fraction = k_default_audit_fraction; // restic-audit checks 1/N of the files per run
    int expected_interval_hours =
        k_default_expected_interval_hours; // backup-status calls a client stale after this
    // The storage server speaks TLS (https://). A client.yaml without the key was made before
    // TLS: plain HTTP.
    bool tls = false;
    // Limits of a dedicated rest-server (--append-only, --max-size), as provisioned.
    bool append_only = false;
    std::optional<std::uint64_t> quota; // bytes
    // When it was provisioned (unix seconds): a client has its expected interval from then for
    // its first snapshot. Files made before the key have none.
    std::optional<std::int64_t> created;
    // A remote primary: the repository lives on an object store the toolkit does not run, as
    // this rclone remote ("store:backups/web1"), with credentials in the client's
    // secrets/rclone.conf. Such a client has no storage server here: kind, topology, address,
    // port, user, bucket and repository say nothing (repository is empty).
    std::string remote_repository;
    // How often backup-syncd lists the remote's snapshots/.
    int poll_interval_seconds = k_default_poll_interval_seconds;
    // The loopback port (127.0.0.1) where backup-syncd takes the store's bucket events
    // (--event-listen), when the store sends them; unset: it only lists.
    std::optional<int> event_port;
    bool is_remote() const { return !remote_repository.empty(); }

    // The URL the client's RESTIC_REPOSITORY holds.
    std::string repository_url() const;
    // The storage server's URL: "https://address:port" ("http://" without TLS).
    std::string endpoint() const;
};

// Reads and checks conf/client.yaml; every problem is reported with file, line and key (100).
util::Expected<ClientConfig> load_client_config(const std::string& path);
// The YAML text of a client config (with a comment header and the schema number).
std::string render_client_config(const ClientConfig& config);

// How the storage servers speak TLS (server.yaml's tls:).
struct TlsSettings {
    enum class Mode {
        private_ca, // a CA of the server's own, under <root>/tls, signs each instance's certificate
        files, // the operator's certificate and key (an ACME client's), copied to each instance
        off,   // plain HTTP: for a trusted network or tests only
    };
    Mode mode = Mode::private_ca;
    // The names in each certificate besides the address clients connect to: DNS names and IP
    // literals.
    std::vector<std::string> names;
    std::string certificate; // mode files: the certificate chain (PEM)
    std::string key;         // mode files: its private key (PEM)
    std::chrono::seconds validity{k_default_certificate_validity};
    std::chrono::seconds ca_validity{k_default_ca_validity};
    // Where the client keeps the CA certificate (its environ's RESTIC_CACERT).
    std::string client_ca_file{k_default_client_ca_file};
};

struct ServerConfig {
    fs::path root{std::string(k_default_root)};
    ServerKind kind = ServerKind::versitygw;
    Topology topology = Topology::dedicated;
    std::string listen_address = "0.0.0.0"; // where storage servers listen
    std::string public_address;             // what clients connect to; default: gethostname()
    int port_min = k_default_port_min;
    int port_max = k_default_port_max;
    std::string owner_user{k_default_owner}; // the shared instances' user
    std::string owner_group{k_default_owner};
    // Each dedicated client gets a system user of its own, client_user_prefix + its host name
    // (client_users: {prefix: ...}); with client_users: off, dedicated clients run as owner_user.
    bool client_users = true;
    std::string client_user_prefix{k_default_client_user_prefix};
    bool append_only = false;              // rest-server --append-only
    std::optional<std::uint64_t> max_size; // rest-server --max-size (bytes)
    TlsSettings tls;
    StatusSettings status; // backup-status: capacity warnings, notifications
    int audit_fraction = k_default_audit_fraction;
    // Destinations every new client gets; "{host}" in a path or remote is the client's name.
    std::vector<Destination> destinations;
    // Programs; empty means: the toolkit's own next to the running executable, the storage
    // servers from PATH.
    std::string versitygw_binary;
    std::string rest_server_binary;
    std::string backup_syncd_binary;
    std::string restic_replicate_binary;
};

// The address clients connect to by default: public_address, else this machine's host name.
std::string default_client_address(const ServerConfig& server);

// Reads a server config; a missing file at the default path gives the defaults, a missing file
// named explicitly is an error.
util::Expected<ServerConfig> load_server_config(const std::string& path, bool explicit_path);

} // namespace backup::core
