// A dedicated versitygw client's account. Its gateway runs multi-tenant, like the shared one
// (--iam-dir secrets/iam, the admin API only on the UNIX socket secrets/admin.sock), and the
// client gets an account with the role user that owns its bucket: never the gateway's root keys,
// which stay in secrets/versitygw.env (root's, files 0600; chpst reads them before it drops
// privileges). Clients provisioned before have no secrets/versitygw-account and hold the root
// keys, as they did.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "model/layout.hpp"
#include "provision/credentials.hpp"
#include "provision/owner.hpp"
#include "provision/versitygw_admin.hpp"
#include "util/error.hpp"

namespace backup::core {

// What a dedicated gateway keeps on disk, for a client's paths (final or staging).
struct GatewayFiles {
    fs::path envdir;       // secrets/versitygw.env: the root keys
    fs::path iam;          // secrets/iam: the accounts (versitygw's users.json)
    fs::path admin_socket; // secrets/admin.sock: the admin API while it runs
    fs::path data;         // data/: the buckets
};
GatewayFiles gateway_files(const ClientPaths& paths);

// Whether the client's gateway has an account for it (a client provisioned since root keys left
// the environ file): secrets/versitygw-account exists.
bool has_gateway_account(const ClientPaths& paths);

using AdminCall = std::function<util::Expected<void>(const VersitygwAdmin&)>;

// Calls fn with the admin API of a gateway that is not running: binary is started over files as
// owner, exactly as its run script does (chpst -e envdir -u user:group), but listening only on
// UNIX sockets in a private temporary directory, and stopped when fn returns. Errors: 111 when
// it does not come up within 30 s (with the first line it wrote), else fn's.
util::Expected<void> with_offline_gateway(const std::string& binary, const GatewayFiles& files,
                                          const Owner& owner, const AdminCall& fn);

// The client's account (access key and secret of credentials, role user) and bucket, owned by
// the account, on a new gateway that has neither accounts nor buckets yet (at provisioning): its
// files written as the gateway writes them (versitygw_files.hpp), without starting it. Not
// flushed: they are in the staged client tree, flushed before its rename.
util::Expected<void> create_gateway_account(const GatewayFiles& files, const Owner& owner,
                                            const std::string& bucket,
                                            const Credentials& credentials);

} // namespace backup::core
