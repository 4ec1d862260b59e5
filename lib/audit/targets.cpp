#include "audit/targets.hpp"

#include <algorithm>
#include <set>
#include <sys/stat.h>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "util/sha256.hpp"

namespace backup::core {

using util::ExitCode;

std::string audit_label_for_path(const fs::path& absolute) {
    std::string name = absolute.filename().string();
    std::string clean;
    for (char c : name) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
        clean += keep ? c : '_';
        if (clean.size() >= 40) {
            break;
        }
    }
    if (clean.empty() || clean.front() == '.') {
        clean.insert(0, "r");
    }
    return fmt::format("path-{}-{}", clean, util::sha256_hex(absolute.string()).substr(0, 12));
}

namespace {

fs::path normalized_absolute(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::absolute(path, ec);
    if (ec) {
        p = path;
    }
    p = p.lexically_normal();
    // "/srv/repo/" names the same directory as "/srv/repo": one label, one state.
    if (p.filename().empty() && p.has_parent_path() && p != p.root_path()) {
        p = p.parent_path();
    }
    return p;
}

bool is_plain_file(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void add_client(const ServerLayout& layout, const std::string& host, const AuditRequest& request,
                AuditTargets& out) {
    ClientPaths paths = layout.client(host);
    auto config = load_client_config(paths.config_file.string());
    if (!config) {
        out.errors.push_back(config.error().with_context(fmt::format("audit client {}", host)));
        return;
    }
    if (config->host != host) {
        out.errors.push_back(util::Error(
            ExitCode::permanent, fmt::format("unable to audit client {}: {} names host '{}'", host,
                                             paths.config_file.string(), config->host)));
        return;
    }
    int length = request.fraction.value_or(config->audit_fraction);
    AuditTarget repo;
    repo.repository = config->repository.string();
    repo.client = host;
    repo.label = "repository";
    repo.state_dir = paths.state;
    repo.cycle_length = length;
    repo.missing_ok = true;
    if (config->is_remote()) {
        // Read through rclone with the client's read-only credentials, as backup-syncd lists.
        repo.repository = config->remote_repository;
        repo.remote =
            RemoteAuditSource{config->remote_repository, paths.rclone_config.string()};
    }
    out.targets.push_back(repo);
    for (const auto& d : config->destinations) {
        if (!d.is_local()) {
            out.notes.push_back(fmt::format(
                "{}: destination {} ({}) not audited: an rclone remote cannot be read here; "
                "audit it where it is stored",
                host, d.name, d.remote));
            continue;
        }
        AuditTarget replica = repo;
        replica.remote.reset();
        replica.repository = d.path.string();
        replica.label = fmt::format("destination-{}", d.name);
        out.targets.push_back(std::move(replica));
    }
}

} // namespace

util::Expected<AuditTargets> resolve_audit_targets(const AuditRequest& request) {
    AuditTargets out;
    if (!request.paths.empty()) {
        std::set<std::string> seen;
        for (const auto& path : request.paths) {
            fs::path absolute = normalized_absolute(path);
            if (!seen.insert(absolute.string()).second) {
                continue;
            }
            AuditTarget t;
            t.repository = absolute.string();
            t.label = audit_label_for_path(absolute);
            t.state_dir = request.state_dir;
            t.cycle_length = request.fraction.value_or(k_default_audit_fraction);
            out.targets.push_back(std::move(t));
        }
        return out;
    }
    ServerLayout layout(request.root);
    if (!request.client.empty()) {
        TRY(validate_host_name(request.client));
        fs::path config = layout.client(request.client).config_file;
        if (!is_plain_file(config)) {
            return util::fail(ExitCode::permanent, "audit client {}: there is no {}",
                              request.client, config.string());
        }
        add_client(layout, request.client, request, out);
        return out;
    }
    auto hosts = layout.clients();
    if (!hosts) {
        return std::unexpected(hosts.error().with_context("find the clients to audit"));
    }
    for (const auto& host : *hosts) {
        add_client(layout, host, request, out);
    }
    if (hosts->empty()) {
        out.notes.push_back(fmt::format("no clients under {}", layout.systems().string()));
    }
    return out;
}

} // namespace backup::core
