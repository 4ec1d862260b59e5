// The shared instances as provisioning manages them: made with the first shared client of their
// kind, their htpasswd rebuilt from the clients, their admin API reached.
#pragma once

#include <string>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "model/shared.hpp"
#include "provision/owner.hpp"
#include "provision/tls.hpp"
#include "provision/versitygw_admin.hpp"
#include "util/error.hpp"

namespace backup::core {

// The shared instance of kind: made (in a staging directory renamed into place, then linked
// into the scan directory) when there is none. The caller holds the server lock.
util::Expected<SharedInstance> ensure_shared_instance(const ServerConfig& server,
                                                      const ServerLayout& layout, ServerKind kind,
                                                      const Owner& owner, const std::string& binary,
                                                      const std::optional<Authority>& authority);

// Rewrites the shared rest-server's htpasswd from every shared rest-server client whose access
// is enabled (their secrets/htpasswd lines), atomically, and HUPs rest-server to re-read it.
util::Expected<void> rebuild_shared_htpasswd(const ServerLayout& layout, const Owner& owner);

// Who runs the shared instance of kind (the owner of its secrets/).
util::Expected<Owner> shared_owner(const ServerLayout& layout, ServerKind kind);

// The admin API of the shared versitygw, with its root keys.
util::Expected<VersitygwAdmin> shared_admin(const ServerConfig& server, const ServerLayout& layout);

// rest-server's limit flags: --append-only, --max-size N.
std::string limit_flags(bool append_only, std::optional<std::uint64_t> max_size);

} // namespace backup::core
