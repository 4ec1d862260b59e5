#include "provision/provision.hpp"

#include "model/runit.hpp"
#include "provision/clients.hpp"
#include "provision/credentials.hpp"
#include "provision/dedicated_gateway.hpp"
#include "provision/plan.hpp"
#include "provision/services.hpp"
#include "provision/shared_instance.hpp"
#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// versitygw: the account keeps its access key; the admin API takes the new secret (unless access
// is disabled, when only the stored secret changes).
Expected<void> rotate_versitygw_keys(const ServerConfig& server, const ServerLayout& layout,
                                     const ClientConfig& config, const ClientPaths& paths,
                                     Credentials credentials, const Owner& owner, bool disabled) {
    Credentials old = TRY(read_account(paths.secrets));
    credentials.access_key = old.access_key;
    VersitygwAdmin admin = TRY(shared_admin(server, layout));
    if (!disabled) {
        TRY(admin.set_secret(config.user, credentials.secret));
    }
    auto written = write_account(paths.secrets, credentials, owner);
    if (written) {
        written = write_environ(server, config, paths, credentials);
    }
    if (!written && !disabled) {
        // Keep the server and the files in agreement: the old secret is what they hold.
        (void)admin.set_secret(config.user, old.secret);
        (void)write_account(paths.secrets, old, owner);
    }
    return written;
}

// Calls fn with the admin API of the client's dedicated gateway: the running one's, else one
// started for the call.
Expected<void> call_gateway(const ServerConfig& server, const ClientConfig& config,
                            const ClientPaths& paths, const Owner& owner, const AdminCall& fn) {
    GatewayFiles files = gateway_files(paths);
    if (TRY(is_supervised(paths.services / "versitygw"))) {
        VersitygwAdmin admin = TRY(VersitygwAdmin::for_envdir(files.envdir, files.admin_socket));
        TRY(admin.wait_ready(std::chrono::seconds(30)));
        return fn(admin);
    }
    Programs programs = TRY(resolve_programs(server, config.kind));
    return with_offline_gateway(programs.storage, files, owner, fn);
}

// A dedicated versitygw with the client's account: as on the shared one, the account keeps its
// access key and takes the new secret; no restart.
Expected<void> rotate_gateway_account(const ServerConfig& server, const ClientConfig& config,
                                      const ClientPaths& paths, Credentials credentials,
                                      const Owner& owner) {
    Credentials old = TRY(read_account(paths.secrets));
    credentials.access_key = old.access_key;
    auto set_secret = [&](const std::string& secret) -> Expected<void> {
        return call_gateway(server, config, paths, owner,
                            [&](const VersitygwAdmin& admin) -> Expected<void> {
                                return admin.set_secret(old.access_key, secret);
                            });
    };
    TRY(set_secret(credentials.secret));
    auto written = write_account(paths.secrets, credentials, owner);
    if (written) {
        written = write_environ(server, config, paths, credentials);
    }
    if (!written) {
        (void)set_secret(old.secret);
        (void)write_account(paths.secrets, old, owner);
    }
    return written;
}

// rest-server: the client's htpasswd line, then the shared htpasswd and a HUP.
Expected<void> rotate_rest_server_keys(const ServerConfig& server, const ServerLayout& layout,
                                       const ClientConfig& config, const ClientPaths& paths,
                                       const Credentials& credentials, const Owner& owner) {
    std::string old_line = TRY(util::read_file((paths.secrets / "htpasswd").string()));
    TRY(write_secrets(paths.secrets, config, credentials, owner));
    Owner shared = TRY(shared_owner(layout, config.kind));
    if (auto ok = rebuild_shared_htpasswd(layout, shared); !ok) {
        (void)write_file(paths.secrets / "htpasswd", old_line, 0600, &owner);
        (void)rebuild_shared_htpasswd(layout, shared);
        return ok;
    }
    return write_environ(server, config, paths, credentials);
}

// A dedicated client: new secrets and environ, and a restart of its running storage server.
Expected<void> rotate_dedicated_keys(const ServerConfig& server, const ClientConfig& config,
                                     const ClientPaths& paths, const Credentials& credentials,
                                     const Owner& owner) {
    TRY(write_secrets(paths.secrets, config, credentials, owner));
    TRY(write_environ(server, config, paths, credentials));
    fs::path storage = paths.services / std::string(to_string(config.kind));
    if (auto restarted = sv_command(storage, "restart"); !restarted) {
        return util::fail(ExitCode::temporary,
                          "restart {} to load the new keys: {}; the new keys are written, run "
                          "'sv restart {}'",
                          storage.string(), restarted.error().message(), storage.string());
    }
    return {};
}

} // namespace

Expected<ClientConfig> rotate_client_keys(const ServerConfig& server, const std::string& host) {
    ServerLayout layout(server.root);
    ClientConfig config = TRY(existing_client(layout, host));
    if (config.is_remote()) {
        // Its keys are the store's, made where the store is run.
        return util::fail(ExitCode::permanent,
                          "rotate the keys of {}: its repository is on {}, whose keys are made by "
                          "that store's operator; replace {} by hand",
                          host, config.remote_repository,
                          (layout.client(host).secrets / "rclone.conf").string());
    }
    Owner owner = TRY(resolve_owner(config.owner_user, config.owner_group));
    auto lock = TRY(lock_server(layout));
    Credentials credentials = TRY(make_credentials(config));
    auto paths = layout.client(host);
    Expected<void> done;
    if (config.topology == Topology::dedicated && has_gateway_account(paths)) {
        done = rotate_gateway_account(server, config, paths, credentials, owner);
    } else if (config.topology == Topology::dedicated) {
        done = rotate_dedicated_keys(server, config, paths, credentials, owner);
    } else {
        std::error_code ec;
        bool disabled = fs::exists(paths.access_disabled, ec);
        done =
            config.kind == ServerKind::versitygw
                ? rotate_versitygw_keys(server, layout, config, paths, credentials, owner, disabled)
                : rotate_rest_server_keys(server, layout, config, paths, credentials, owner);
        if (!done) {
            return std::unexpected(
                done.error().with_context(fmt::format("rotate the keys of {}", host)));
        }
    }
    TRY(done);
    return config;
}

} // namespace backup::core
