#include "provision/plan.hpp"

#include <cstdlib>
#include <unistd.h>

#include "model/shared.hpp"
#include "provision/shared_instance.hpp"
#include "provision/tls.hpp"
#include "util/process.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// How long control/t waits for each service of a client to stop before it sends KILL.
constexpr int k_stop_timeout_seconds = 60;

std::string expand_host(std::string text, const std::string& host) {
    for (auto at = text.find("{host}"); at != std::string::npos; at = text.find("{host}")) {
        text.replace(at, 6, host);
    }
    return text;
}

TemplateValues template_values(const ServerConfig& server, const ClientPlan& plan,
                               const Owner& owner, const Programs& programs) {
    const ClientConfig& config = plan.config;
    ServerLayout layout(server.root);
    return {
        {"HOST", {config.host}},
        {"ROOT", {server.root.string()}},
        {"OWNER", {fmt::format("{}:{}", owner.user, owner.group)}},
        {"SERVICES", {plan.paths.services.string()}},
        {"ENABLE_LINK", {layout.enable_link(config.host).string()}},
        {"STOP_TIMEOUT", {std::to_string(k_stop_timeout_seconds)}},
        {"DATA", {plan.paths.data.string()}},
        {"BUCKET", {config.bucket.empty() ? config.user : config.bucket}},
        {"ENVDIR", {(plan.paths.secrets / "versitygw.env").string()}},
        {"IAM", {(plan.paths.secrets / "iam").string()}},
        {"ADMIN_SOCKET", {(plan.paths.secrets / "admin.sock").string()}},
        {"HTPASSWD", {(plan.paths.secrets / "htpasswd").string()}},
        {"LISTEN", {fmt::format("{}:{}", server.listen_address, config.port)}},
        {"VERSITYGW", {programs.storage}},
        {"REST_SERVER", {programs.storage}},
        {"REST_SERVER_FLAGS", {limit_flags(config.append_only, config.quota), ValueKind::words}},
        {"TLS_FLAGS",
         {tls_flags(config.kind, config.tls
                                     ? std::optional<CertificateFiles>(CertificateFiles{
                                           plan.paths.certificate, plan.paths.certificate_key})
                                     : std::nullopt),
          ValueKind::words}},
        {"BACKUP_SYNCD", {programs.syncd}},
        {"STATE", {plan.paths.state.string()}},
        {"SYNC_COMMAND",
         {fmt::format("{} --root {} --client {}", programs.replicate, server.root.string(),
                      config.host),
          ValueKind::words}},
    };
}

} // namespace

Expected<std::string> resolve_program(const std::string& configured, const std::string& name,
                                      bool ours) {
    if (!configured.empty()) {
        return configured;
    }
    if (ours) {
        std::string beside = util::own_directory() + "/" + name;
        if (::access(beside.c_str(), X_OK) == 0) {
            return beside;
        }
    } else if (auto bundled = util::bundled_program(name)) {
        return *bundled;
    }
    const char* path = std::getenv("PATH");
    auto found = util::find_executable(name, path != nullptr ? path : "/usr/bin:/bin");
    if (!found) {
        return util::fail(ExitCode::permanent,
                          "find {}: not on PATH (install it or set binaries.{} in the server "
                          "config)",
                          name, name);
    }
    return fs::absolute(*found).string();
}

Expected<Programs> resolve_programs(const ServerConfig& server, ServerKind kind) {
    Programs p;
    p.storage = TRY(kind == ServerKind::versitygw
                        ? resolve_program(server.versitygw_binary, "versitygw", false)
                        : resolve_program(server.rest_server_binary, "rest-server", false));
    p.syncd = TRY(resolve_program(server.backup_syncd_binary, "backup-syncd", true));
    p.replicate = TRY(resolve_program(server.restic_replicate_binary, "restic-replicate", true));
    return p;
}

ClientConfig initial_client_config(const ServerConfig& server, const ProvisionRequest& request,
                                   std::string_view default_address) {
    ClientConfig config;
    config.host = request.host;
    config.kind = request.kind.value_or(server.kind);
    config.topology = request.topology.value_or(server.topology);
    // A dedicated client's own user is made at provisioning (owner_user stays empty until then),
    // unless the request or the server config names one.
    bool named = request.owner_user || request.owner_group || !server.client_users ||
                 config.topology == Topology::shared;
    if (named) {
        config.owner_user = request.owner_user.value_or(server.owner_user);
        config.owner_group = request.owner_group.value_or(server.owner_group);
    }
    config.audit_fraction = server.audit_fraction;
    config.address = request.address.value_or(std::string(default_address));
    config.created = request.now;
    for (auto d : server.destinations) {
        d.path = expand_host(d.path.string(), config.host);
        d.remote = expand_host(d.remote, config.host);
        config.destinations.push_back(std::move(d));
    }
    return config;
}

ClientPlan plan_client(const ServerConfig& server, ClientConfig config, const Owner& owner,
                       const Programs& programs, Credentials credentials,
                       Credentials gateway_root) {
    ServerLayout layout(server.root);
    ClientPlan plan;
    plan.shared = config.topology == Topology::shared;
    plan.paths = layout.client(config.host);
    plan.storage_service = std::string(to_string(config.kind));
    fs::path data_dir = plan.shared ? shared_paths(layout, config.kind).data : plan.paths.data;
    if (config.kind == ServerKind::versitygw) {
        // provision_client has refused a host name that makes no valid bucket.
        config.bucket = bucket_for_host(config.host).value_or(config.host);
        // The client's account (shared or dedicated gateway) is named by its access key.
        config.user = credentials.access_key;
        config.repository = data_dir / config.bucket;
    } else {
        config.user = config.host;
        config.repository = data_dir / config.user;
        credentials.access_key = config.user; // the htpasswd user
    }
    plan.config = std::move(config);
    plan.credentials = std::move(credentials);
    plan.gateway_root = std::move(gateway_root);
    plan.storage_program = programs.storage;
    plan.values = template_values(server, plan, owner, programs);
    return plan;
}

ClientPlan plan_remote_client(const ServerConfig& server, ClientConfig config, const Owner& owner,
                              const Programs& programs) {
    ClientPlan plan;
    plan.paths = ServerLayout(server.root).client(config.host);
    plan.config = std::move(config);
    plan.values = template_values(server, plan, owner, programs);
    plan.values["REMOTE"] = {plan.config.remote_repository};
    plan.values["RCLONE_CONFIG"] = {plan.paths.rclone_config.string()};
    plan.values["POLL_INTERVAL"] = {std::to_string(plan.config.poll_interval_seconds)};
    plan.values["EVENT_FLAGS"] = {
        plan.config.event_port ? fmt::format("--event-listen 127.0.0.1:{}", *plan.config.event_port)
                               : std::string(),
        ValueKind::words};
    return plan;
}

} // namespace backup::core
