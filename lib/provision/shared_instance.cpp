#include "provision/shared_instance.hpp"

#include <cerrno>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/credentials.hpp"
#include "provision/ports.hpp"
#include "provision/services.hpp"
#include "provision/tls.hpp"
#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

std::string admin_address(const ServerConfig& server) {
    return server.listen_address.empty() || server.listen_address == "0.0.0.0"
               ? std::string("127.0.0.1")
               : server.listen_address;
}

// Everything of a new shared instance below p (a staging directory), for the final paths.
Expected<void> build_shared(const ServerConfig& server, const std::optional<Authority>& authority,
                            const SharedPaths& p, const SharedPaths& final_paths,
                            const SharedInstance& instance, const TemplateValues& values,
                            const Owner& owner) {
    std::string name(to_string(instance.kind));
    TRY(make_dir(p.secrets, 0700, &owner));
    TRY(make_dir(p.data, 0750, &owner));
    TRY(make_dir(p.logs, 0755));
    TRY(make_service(p.service, "shared-" + name + "/run", values, p.logs / name,
                     final_paths.logs / name, owner));
    if (instance.kind == ServerKind::versitygw) {
        TRY(make_dir(p.iam, 0700, &owner));
        ClientConfig root_account;
        root_account.kind = ServerKind::versitygw;
        Credentials root_keys = TRY(make_credentials(root_account));
        TRY(write_secrets(p.secrets, root_account, root_keys, owner));
    } else {
        TRY(write_file(p.secrets / "htpasswd", "", 0600, &owner));
    }
    if (instance.tls) {
        TRY(install_certificate(server, authority, {p.certificate, p.certificate_key},
                                certificate_names(server, default_client_address(server)), owner));
    }
    return write_file(p.config_file, render_shared_config(instance), 0644);
}

} // namespace

std::string limit_flags(bool append_only, std::optional<std::uint64_t> max_size) {
    std::string flags;
    if (append_only) {
        flags += "--append-only";
    }
    if (max_size) {
        flags += fmt::format("{}--max-size {}", flags.empty() ? "" : " ", *max_size);
    }
    return flags;
}

Expected<SharedInstance> ensure_shared_instance(const ServerConfig& server,
                                                const ServerLayout& layout, ServerKind kind,
                                                const Owner& owner, const std::string& binary,
                                                const std::optional<Authority>& authority) {
    SharedPaths final_paths = shared_paths(layout, kind);
    std::error_code ec;
    if (fs::exists(final_paths.config_file, ec)) {
        return load_shared_config(final_paths.config_file.string());
    }
    fs::path shared_root = layout.root() / "shared";
    TRY(util::make_directories(shared_root.string(), 0755));
    SharedInstance instance{kind, TRY(choose_port(server, layout, std::nullopt)),
                            server.tls.mode != TlsSettings::Mode::off,
                            kind == ServerKind::versitygw};
    auto staging = TRY(util::TempDir::create(
        (shared_root / fmt::format(".staging-{}-", to_string(kind))).string()));
    ::chmod(staging.path().c_str(), 0755);
    util::DeferredSync deferred(staging.path().string()); // flushed once before the rename
    TemplateValues values = {
        {"OWNER", {fmt::format("{}:{}", owner.user, owner.group)}},
        {"DATA", {final_paths.data.string()}},
        {"IAM", {final_paths.iam.string()}},
        {"ENVDIR", {(final_paths.secrets / "versitygw.env").string()}},
        {"HTPASSWD", {(final_paths.secrets / "htpasswd").string()}},
        {"LISTEN", {fmt::format("{}:{}", server.listen_address, instance.port)}},
        {"VERSITYGW", {binary}},
        {"REST_SERVER", {binary}},
        {"REST_SERVER_FLAGS", {limit_flags(server.append_only, server.max_size), ValueKind::words}},
        {"ADMIN_SOCKET", {final_paths.admin_socket.string()}},
        {"TLS_FLAGS",
         {tls_flags(kind, instance.tls ? std::optional<CertificateFiles>(CertificateFiles{
                                             final_paths.certificate, final_paths.certificate_key})
                                       : std::nullopt),
          ValueKind::words}},
    };
    if (auto ok = build_shared(server, authority, shared_paths_at(staging.path()), final_paths,
                               instance, values, owner);
        !ok) {
        return std::unexpected(
            ok.error().with_context(fmt::format("provision the shared {}", to_string(kind))));
    }
    TRY(util::fsync_tree(staging.path().string()));
    if (!TRY(util::rename_noreplace(staging.path().string(), final_paths.dir.string()))) {
        return util::fail(ExitCode::permanent, "create {}: it exists", final_paths.dir.string());
    }
    TRY(util::fsync_directory(shared_root.string()));
    staging.release();
    fs::path link = layout.scan_dir() / shared_service_name(kind);
    if (::symlink(final_paths.service.c_str(), link.c_str()) != 0 && errno != EEXIST) {
        int err = errno;
        fs::remove_all(final_paths.dir, ec);
        return util::fail_errno(err, fmt::format("create link {}", link.string()));
    }
    return instance;
}

Expected<void> rebuild_shared_htpasswd(const ServerLayout& layout, const Owner& owner) {
    std::vector<std::string> lines;
    auto hosts = TRY(layout.clients());
    for (const auto& host : hosts) {
        ClientPaths paths = layout.client(host);
        ClientConfig config = TRY(load_client_config(paths.config_file.string()));
        std::error_code ec;
        if (config.topology != Topology::shared || config.kind != ServerKind::rest_server ||
            fs::exists(paths.access_disabled, ec)) {
            continue;
        }
        std::string line = TRY(util::read_file((paths.secrets / "htpasswd").string()));
        while (!line.empty() && line.back() == '\n') {
            line.pop_back();
        }
        lines.push_back(std::move(line));
    }
    std::string text = TRY(compose_htpasswd(std::move(lines)));
    auto shared = shared_paths(layout, ServerKind::rest_server);
    TRY(write_file(shared.secrets / "htpasswd", text, 0600, &owner));
    return sv_command(shared.service, "hup");
}

Expected<Owner> shared_owner(const ServerLayout& layout, ServerKind kind) {
    return owner_of(shared_paths(layout, kind).secrets,
                    fmt::format("the shared {}", to_string(kind)));
}

Expected<VersitygwAdmin> shared_admin(const ServerConfig& server, const ServerLayout& layout) {
    auto paths = shared_paths(layout, ServerKind::versitygw);
    SharedInstance instance = TRY(load_shared_config(paths.config_file.string()));
    if (instance.admin_socket) {
        return VersitygwAdmin::for_socket(paths);
    }
    // An instance made before the admin API moved off the network: on the S3 port.
    return VersitygwAdmin::for_instance(paths, admin_address(server), instance.port);
}

} // namespace backup::core
