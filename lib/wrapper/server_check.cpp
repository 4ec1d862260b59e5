#include "wrapper/server_check.hpp"

#include <cerrno>
#include <charconv>
#include <unistd.h>

#include <cstring>

#include <fmt/ranges.h>

#include "util/tls.hpp"

namespace backup::core {

using util::ExitCode;

namespace {

std::string value_of(const util::Environment& env, const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
}

} // namespace

std::vector<std::string> ca_files_of(const util::Environment& env) {
    std::vector<std::string> files;
    std::string value = value_of(env, "RESTIC_CACERT");
    std::string_view rest = value;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view file = rest.substr(0, comma);
        if (!file.empty()) {
            files.emplace_back(file);
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return files;
}

util::Expected<void> check_ca_files(const util::Environment& env) {
    for (const auto& file : ca_files_of(env)) {
        if (::access(file.c_str(), R_OK) != 0) {
            return util::fail(ExitCode::permanent,
                              "read the backup server's CA certificate {} (RESTIC_CACERT): {}; "
                              "copy client/backup-ca.pem of this client from the backup server "
                              "there",
                              file, std::strerror(errno));
        }
    }
    return {};
}

std::optional<RepositoryServer> https_server_of(std::string_view repository) {
    for (std::string_view prefix : {"rest:https://", "s3:https://"}) {
        if (!repository.starts_with(prefix)) {
            continue;
        }
        std::string_view rest = repository.substr(prefix.size());
        rest = rest.substr(0, rest.find('/'));
        if (auto at = rest.rfind('@'); at != std::string_view::npos) {
            rest = rest.substr(at + 1); // user:password@
        }
        RepositoryServer server;
        std::string_view port;
        if (rest.starts_with('[')) {
            auto close = rest.find(']');
            if (close == std::string_view::npos) {
                return std::nullopt;
            }
            server.host = std::string(rest.substr(1, close - 1));
            port = rest.substr(close + 1);
        } else {
            auto colon = rest.rfind(':');
            server.host = std::string(rest.substr(0, colon));
            port = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
        }
        if (!port.empty()) {
            port.remove_prefix(1); // ':'
            auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), server.port);
            if (ec != std::errc() || end != port.data() + port.size()) {
                return std::nullopt;
            }
        }
        if (server.host.empty()) {
            return std::nullopt;
        }
        return server;
    }
    return std::nullopt;
}

util::Expected<void> check_server_certificate(const util::Environment& env) {
    auto server = https_server_of(value_of(env, "RESTIC_REPOSITORY"));
    if (!server) {
        return {};
    }
    auto probe = util::probe_tls(server->host, server->port, server->host, ca_files_of(env),
                                 std::chrono::seconds(10));
    if (!probe || probe->verified) {
        return {};
    }
    std::string ca = value_of(env, "RESTIC_CACERT");
    return util::fail(ExitCode::permanent,
                      "trust the backup server {}:{}: its certificate does not verify ({}; it is "
                      "{}, issued by {}, for {}); {}",
                      server->host, server->port, probe->verify_error, probe->served.subject,
                      probe->served.issuer, fmt::join(probe->served.names, ", "),
                      ca.empty() ? "RESTIC_CACERT is not set: the environ file the server "
                                   "made names the CA file to copy"
                                 : fmt::format("is RESTIC_CACERT ({}) the server's CA?", ca));
}

} // namespace backup::core
