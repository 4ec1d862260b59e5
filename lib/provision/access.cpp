#include "provision/provision.hpp"

#include <cerrno>
#include <unistd.h>

#include "provision/clients.hpp"
#include "provision/credentials.hpp"
#include "provision/shared_instance.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// The file conf/access-disabled: present while the client's access is disabled.
Expected<void> set_marker(const ClientPaths& paths, bool enabled) {
    fs::path marker = paths.access_disabled;
    if (enabled) {
        if (::unlink(marker.c_str()) != 0 && errno != ENOENT) {
            return util::fail_errno(errno, fmt::format("remove {}", marker.string()));
        }
        return util::fsync_directory(paths.conf.string());
    }
    return write_file(marker,
                      "# The client's access to the shared storage server is disabled "
                      "(new-restic-server --enable undoes it).\n",
                      0644);
}

// versitygw has no disabled state: a disabled account gets a secret nobody knows; the client's
// secret stays in its secrets/ for --enable.
Expected<void> set_versitygw_access(const ServerConfig& server, const ServerLayout& layout,
                                    const ClientConfig& config, const ClientPaths& paths,
                                    bool enabled) {
    Credentials account = TRY(read_account(paths.secrets));
    VersitygwAdmin admin = TRY(shared_admin(server, layout));
    std::string secret = enabled ? account.secret : TRY(util::random_token(40));
    TRY(admin.set_secret(config.user, secret));
    if (auto ok = set_marker(paths, enabled); !ok) {
        // Keep the gateway as the marker says: the old secret state comes back.
        if (!enabled) {
            (void)admin.set_secret(config.user, account.secret);
        } else if (auto unknown = util::random_token(40)) {
            (void)admin.set_secret(config.user, *unknown);
        }
        return ok;
    }
    return {};
}

// rest-server: the marker decides whether the client's line goes into the shared htpasswd.
Expected<void> set_rest_server_access(const ServerLayout& layout, const ClientConfig& config,
                                      const ClientPaths& paths, bool enabled) {
    TRY(set_marker(paths, enabled));
    Owner owner = TRY(shared_owner(layout, config.kind));
    if (auto ok = rebuild_shared_htpasswd(layout, owner); !ok) {
        (void)set_marker(paths, !enabled);
        (void)rebuild_shared_htpasswd(layout, owner);
        return ok;
    }
    return {};
}

} // namespace

Expected<void> set_client_access(const ServerConfig& server, const std::string& host,
                                 bool enabled) {
    ServerLayout layout(server.root);
    ClientConfig config = TRY(existing_client(layout, host));
    if (config.topology != Topology::shared) {
        return util::fail(ExitCode::permanent,
                          "{} {}: it has a dedicated storage server; {} its link {} instead",
                          enabled ? "enable" : "disable", host, enabled ? "create" : "remove",
                          layout.enable_link(host).string());
    }
    auto lock = TRY(lock_server(layout));
    auto paths = layout.client(host);
    std::error_code ec;
    bool disabled = fs::exists(paths.access_disabled, ec);
    if (disabled != enabled) {
        return {}; // already so
    }
    auto done = config.kind == ServerKind::versitygw
                    ? set_versitygw_access(server, layout, config, paths, enabled)
                    : set_rest_server_access(layout, config, paths, enabled);
    if (!done) {
        return std::unexpected(
            done.error().with_context(fmt::format("{} {}", enabled ? "enable" : "disable", host)));
    }
    return {};
}

} // namespace backup::core
