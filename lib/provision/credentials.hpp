// A client's credentials: made here, written where its storage server reads them (never onto a
// command line), and into the environ file the client gets.
#pragma once

#include <filesystem>
#include <string>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

struct Credentials {
    std::string access_key; // versitygw; or the rest-server user
    std::string secret;     // versitygw secret key; or the rest-server password
};

// Fresh random credentials for config's kind: a versitygw key pair, or a rest-server password
// for config.user.
util::Expected<Credentials> make_credentials(const ClientConfig& config);

// Writes the credentials where the storage server reads them, only readable by the owner: an
// envdir secrets/versitygw.env (ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY; chpst -e loads it)
// for versitygw, an htpasswd file secrets/htpasswd (bcrypt) for rest-server.
util::Expected<void> write_secrets(const fs::path& secrets, const ClientConfig& config,
                                   const Credentials& credentials, const Owner& owner);

// A versitygw's root keys: an envdir secrets/versitygw.env (ROOT_ACCESS_KEY_ID,
// ROOT_SECRET_ACCESS_KEY), files 0600 in a 0700 directory, owned by owner when given, else by
// this process (root, for a dedicated gateway: chpst reads them before it drops privileges).
util::Expected<void> write_root_keys(const fs::path& secrets, const Credentials& keys,
                                     const Owner* owner);

// A versitygw client's account keys (shared, or on its dedicated gateway), kept in
// secrets/versitygw-account (the server needs the secret again to enable the account after
// --disable).
util::Expected<void> write_account(const fs::path& secrets, const Credentials& credentials,
                                   const Owner& owner);
util::Expected<Credentials> read_account(const fs::path& secrets);

// The text of a client's environ file for its credentials; with ca_file (where the CA
// certificate goes on the client), RESTIC_CACERT names it.
std::string render_environ(const ClientConfig& config, const Credentials& credentials,
                           const std::string& ca_file);
// Rewrites a provisioned client's environ file (mode 0600) for new credentials; RESTIC_CACERT
// stays when the client has a CA file to take home (client/backup-ca.pem).
util::Expected<void> write_environ(const ServerConfig& server, const ClientConfig& config,
                                   const ClientPaths& paths, const Credentials& credentials);

} // namespace backup::core
