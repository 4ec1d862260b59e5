#include "provision/provision.hpp"

#include "model/runit.hpp"
#include "provision/clients.hpp"
#include "provision/services.hpp"
#include "provision/shared_instance.hpp"
#include "provision/tls.hpp"
#include "util/fs.hpp"
#include "util/tls.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// One storage server instance whose certificate is renewed.
struct Instance {
    std::string name; // "web1", "the shared versitygw"
    ServerKind kind;
    fs::path service; // its runit service
    CertificateFiles files;
    std::string address; // what its clients connect to
    Owner owner;
};

Expected<std::vector<Instance>> dedicated_instances(const ServerLayout& layout,
                                                    const std::optional<std::string>& host) {
    std::vector<Instance> out;
    auto hosts = host ? std::vector<std::string>{*host} : TRY(layout.clients());
    for (const auto& h : hosts) {
        ClientConfig config = TRY(existing_client(layout, h));
        if (!config.tls || config.topology != Topology::dedicated) {
            continue;
        }
        ClientPaths paths = layout.client(h);
        Owner owner = TRY(resolve_owner(config.owner_user, config.owner_group));
        out.push_back({h,
                       config.kind,
                       paths.services / std::string(to_string(config.kind)),
                       {paths.certificate, paths.certificate_key},
                       config.address,
                       owner});
    }
    return out;
}

Expected<std::vector<Instance>> shared_instances(const ServerConfig& server,
                                                 const ServerLayout& layout,
                                                 std::optional<ServerKind> only) {
    std::vector<Instance> out;
    for (auto kind : {ServerKind::versitygw, ServerKind::rest_server}) {
        SharedPaths paths = shared_paths(layout, kind);
        std::error_code ec;
        if ((only && *only != kind) || !fs::exists(paths.config_file, ec)) {
            continue;
        }
        SharedInstance instance = TRY(load_shared_config(paths.config_file.string()));
        if (!instance.tls) {
            continue;
        }
        out.push_back({fmt::format("the shared {}", to_string(kind)),
                       kind,
                       paths.service,
                       {paths.certificate, paths.certificate_key},
                       default_client_address(server),
                       TRY(shared_owner(layout, kind))});
    }
    return out;
}

// The instances a renewal covers: one client's (its own, or its shared instance), or all.
Expected<std::vector<Instance>> instances_to_renew(const ServerConfig& server,
                                                   const ServerLayout& layout,
                                                   const std::optional<std::string>& host) {
    if (host) {
        ClientConfig config = TRY(existing_client(layout, *host));
        if (!config.tls) {
            return util::fail(ExitCode::permanent,
                              "renew the certificate of {}: it was provisioned without TLS", *host);
        }
        if (config.topology == Topology::shared) {
            return shared_instances(server, layout, config.kind);
        }
        return dedicated_instances(layout, host);
    }
    auto all = TRY(dedicated_instances(layout, std::nullopt));
    auto shared = TRY(shared_instances(server, layout, std::nullopt));
    all.insert(all.end(), shared.begin(), shared.end());
    return all;
}

// versitygw loads a new certificate on SIGHUP; rest-server only when it starts (restic retries
// through the restart).
Expected<void> reload(const Instance& instance) {
    return sv_command(instance.service, instance.kind == ServerKind::versitygw ? "hup" : "restart");
}

// Every TLS client's CA file to take home, rewritten for a new CA; the clients, by name.
Expected<std::vector<std::string>> rewrite_client_ca_files(const ServerLayout& layout,
                                                           const Authority& authority) {
    std::vector<std::string> clients;
    for (const auto& host : TRY(layout.clients())) {
        ClientPaths paths = layout.client(host);
        std::error_code ec;
        if (fs::exists(paths.ca_file, ec)) {
            TRY(write_file(paths.ca_file, authority.trust, 0644));
            clients.push_back(host);
        }
    }
    return clients;
}

} // namespace

Expected<RenewalReport> renew_certificates(const ServerConfig& server,
                                           const std::optional<std::string>& host, bool rotate_ca) {
    if (server.tls.mode == TlsSettings::Mode::off) {
        return util::fail(ExitCode::permanent,
                          "renew certificates: TLS is off in the server config");
    }
    if (rotate_ca && (host || server.tls.mode != TlsSettings::Mode::private_ca)) {
        return util::fail(ExitCode::permanent,
                          "rotate the CA: only the server's own CA (no certificate files in the "
                          "config), and for every client at once (no --host)");
    }
    ServerLayout layout(server.root);
    auto lock = TRY(lock_server(layout));
    RenewalReport report;
    std::optional<Authority> authority;
    if (server.tls.mode == TlsSettings::Mode::private_ca) {
        authority = rotate_ca ? TRY(rotate_authority(server, layout))
                              : TRY(ensure_authority(server, layout));
    }
    if (rotate_ca) {
        // The servers keep their certificates, which the previous CA signed and every client
        // still trusts; the next --renew-certs, once the clients have their new CA file, issues
        // certificates from the new CA.
        report.clients_needing_ca = TRY(rewrite_client_ca_files(layout, *authority));
        return report;
    }
    for (const auto& instance : TRY(instances_to_renew(server, layout, host))) {
        TRY(install_certificate(server, authority, instance.files,
                                certificate_names(server, instance.address), instance.owner));
        auto info = TRY(util::read_certificate_file(instance.files.certificate.string()));
        TRY(reload(instance));
        report.renewed.push_back({instance.name, info.not_after});
    }
    return report;
}

} // namespace backup::core
