// Where things live on the backup server (see DESIGN.md, "Layout on the server"), and the rules
// for client host names, which become path components, bucket names and user names.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

inline constexpr std::size_t k_max_host_length = 63;

// The names the layout itself uses under <root>/systems/, beside the clients' directories: no
// client may be called so (a client "removed" would receive every removed client's data).
inline constexpr std::string_view k_reserved_host_names[] = {"conf", "removed"};

// A client host name: 1 to 63 characters of lowercase letters, digits, '-' and '.', starting
// and ending with a letter or digit, no "..", none of k_reserved_host_names: a DNS name that is
// safe as a path component and an htpasswd user. The error says what is wrong (100).
util::Expected<void> validate_host_name(std::string_view host);

// The S3 bucket a versitygw client's repository is in, for its host name: the name itself, or
// with "-restic" appended when shorter than 3 characters. Refused (100, saying which rule) when
// that is no valid bucket name: an IP address, a '.' next to a '-', "xn--", "sthree-" or
// "amzn-s3-demo-" in front, "-s3alias", "--ol-s3", ".mrap" or "--x-s3" at the end.
util::Expected<std::string> bucket_for_host(std::string_view host);

// Linux user names are at most this long (useradd refuses longer ones).
inline constexpr std::size_t k_max_user_name_length = 32;
inline constexpr std::size_t k_max_client_user_prefix_length = 16;

// A prefix for the names of the clients' own system users: 1 to 16 characters of lowercase
// letters, digits, '-' and '_', starting with a letter (so that every name made with it is a
// valid user name on Debian and elsewhere). The error says what is wrong (100).
util::Expected<void> validate_client_user_prefix(std::string_view prefix);

// The name of a dedicated client's own system user: prefix + host when the host has no '.' and
// that fits in 32 characters; else prefix + the host with each '.' as '-', cut to leave room,
// + '-' + the first 8 hex digits of the SHA-256 of the host. So two hosts never get one name
// (barring a 32-bit hash collision, which provisioning refuses as "the user exists"), and a
// name never exceeds 32 characters. prefix must be valid (validate_client_user_prefix).
std::string client_user_name(std::string_view prefix, std::string_view host);

// The paths of one client under the server root.
struct ClientPaths {
    fs::path dir;             // <root>/systems/<host>
    fs::path conf;            // conf/
    fs::path service;         // conf/runsvdir: the client's service, linked into the scan dir
    fs::path services;        // conf/runsvs: scanned by the client's own runsvdir
    fs::path config_file;     // conf/client.yaml
    fs::path secrets;         // secrets/ (0700)
    fs::path data;            // data/: the storage server's directory
    fs::path logs;            // logs/<service>/ for svlogd
    fs::path state;           // state/: daemon state, ledgers, status JSON
    fs::path environ_file;    // client/environ: for the client's /etc/restic/environ (0600)
    fs::path ca_file;         // client/backup-ca.pem: the server's CA, for the client (0644)
    fs::path certificate;     // conf/tls/cert.pem: the storage server's certificate (0644)
    fs::path certificate_key; // secrets/tls-key.pem: its private key (0600)
    fs::path rclone_config;   // secrets/rclone.conf: a remote primary's credentials (0600)
    fs::path access_disabled; // conf/access-disabled: there while a shared client is disabled
};

// The paths of the whole server.
class ServerLayout {
public:
    explicit ServerLayout(fs::path root) : m_root(std::move(root)) {}

    const fs::path& root() const { return m_root; }
    fs::path systems() const { return m_root / "systems"; }
    // The directory the top-level runsvdir scans: one symlink per enabled client.
    fs::path scan_dir() const { return systems() / "conf" / "runit"; }
    // The link that enables a client.
    fs::path enable_link(std::string_view host) const { return scan_dir() / std::string(host); }
    ClientPaths client(std::string_view host) const;
    // The server's own certificate authority: <root>/tls/ (0700) with ca.pem and ca.key (0600).
    fs::path tls_dir() const { return m_root / "tls"; }
    // Paths of a client laid out below another directory (a staging directory that is renamed
    // into place), with the same relative structure.
    static ClientPaths client_at(const fs::path& dir);
    // The clients provisioned under the root: every directory of systems/ named like a host that
    // holds conf/client.yaml, sorted. An unlistable systems/ is an error.
    util::Expected<std::vector<std::string>> clients() const;

private:
    fs::path m_root;
};

} // namespace backup::core
