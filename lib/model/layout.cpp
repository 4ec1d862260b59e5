#include "model/layout.hpp"

#include <algorithm>

#include <sys/stat.h>

#include "util/dir.hpp"
#include "util/sha256.hpp"

namespace backup::core {

util::Expected<void> validate_host_name(std::string_view host) {
    using util::ExitCode;
    if (host.empty()) {
        return util::fail(ExitCode::permanent, "use host name '': it is empty");
    }
    if (host.size() > k_max_host_length) {
        return util::fail(ExitCode::permanent, "use host name '{}': longer than {} characters",
                          host, k_max_host_length);
    }
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
        if (!ok) {
            return util::fail(ExitCode::permanent,
                              "use host name '{}': only lowercase letters, digits, '-' and '.' "
                              "are allowed",
                              host);
        }
    }
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(host.front()) || !alnum(host.back())) {
        return util::fail(ExitCode::permanent,
                          "use host name '{}': it must start and end with a letter or digit", host);
    }
    if (host.find("..") != std::string_view::npos) {
        return util::fail(ExitCode::permanent, "use host name '{}': it contains '..'", host);
    }
    for (auto reserved : k_reserved_host_names) {
        if (host == reserved) {
            return util::fail(ExitCode::permanent,
                              "use host name '{}': the server's layout uses "
                              "ROOT/systems/{}/ itself; pick another name",
                              host, host);
        }
    }
    return {};
}

util::Expected<void> validate_client_user_prefix(std::string_view prefix) {
    bool ok = !prefix.empty() && prefix.size() <= k_max_client_user_prefix_length &&
              prefix.front() >= 'a' && prefix.front() <= 'z' &&
              std::all_of(prefix.begin(), prefix.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
              });
    if (!ok) {
        return util::fail(util::ExitCode::permanent,
                          "use client user prefix '{}': expected 1 to {} lowercase letters, "
                          "digits, '-' or '_', starting with a letter",
                          prefix, k_max_client_user_prefix_length);
    }
    return {};
}

std::string client_user_name(std::string_view prefix, std::string_view host) {
    std::string name = fmt::format("{}{}", prefix, host);
    if (host.find('.') == std::string_view::npos && name.size() <= k_max_user_name_length) {
        return name;
    }
    // Some systems refuse '.' in a user name; and a cut name needs the hash to stay unique.
    std::string hash = util::sha256_hex(host).substr(0, 8);
    std::size_t room = k_max_user_name_length - prefix.size() - 1 - hash.size();
    std::string part(host.substr(0, room));
    std::replace(part.begin(), part.end(), '.', '-');
    while (!part.empty() && part.back() == '-') {
        part.pop_back();
    }
    return fmt::format("{}{}-{}", prefix, part, hash);
}

util::Expected<std::string> bucket_for_host(std::string_view host) {
    using util::ExitCode;
    TRY(validate_host_name(host));
    // S3 bucket names need 3 to 63 characters.
    std::string bucket = host.size() >= 3 ? std::string(host) : std::string(host) + "-restic";
    auto refuse = [&](std::string_view why) {
        return util::fail(ExitCode::permanent,
                          "use host name '{}' for a versitygw client: its bucket '{}' would be no "
                          "valid S3 bucket name ({}); pick another name, or --server rest-server",
                          host, bucket, why);
    };
    bool ip = !bucket.empty() && std::all_of(bucket.begin(), bucket.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == '.';
    }) && std::count(bucket.begin(), bucket.end(), '.') == 3;
    if (ip) {
        return refuse("it has the form of an IP address");
    }
    if (bucket.find(".-") != std::string::npos || bucket.find("-.") != std::string::npos) {
        return refuse("a '.' next to a '-'");
    }
    for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
        if (bucket.starts_with(prefix)) {
            return refuse(fmt::format("it starts with '{}'", prefix));
        }
    }
    for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3"}) {
        if (bucket.ends_with(suffix)) {
            return refuse(fmt::format("it ends with '{}'", suffix));
        }
    }
    return bucket;
}

util::Expected<std::vector<std::string>> ServerLayout::clients() const {
    auto entries = TRY(util::read_directory(systems().string()));
    std::vector<std::string> hosts;
    for (const auto& entry : entries) {
        if (entry.type != util::EntryType::directory || !validate_host_name(entry.name)) {
            continue;
        }
        struct stat st {};
        if (::stat(client(entry.name).config_file.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            hosts.push_back(entry.name);
        }
    }
    return hosts;
}

ClientPaths ServerLayout::client(std::string_view host) const {
    return client_at(systems() / std::string(host));
}

ClientPaths ServerLayout::client_at(const fs::path& dir) {
    ClientPaths p;
    p.dir = dir;
    p.conf = dir / "conf";
    p.service = p.conf / "runsvdir";
    p.services = p.conf / "runsvs";
    p.config_file = p.conf / "client.yaml";
    p.secrets = dir / "secrets";
    p.data = dir / "data";
    p.logs = dir / "logs";
    p.state = dir / "state";
    p.environ_file = dir / "client" / "environ";
    p.ca_file = dir / "client" / "backup-ca.pem";
    p.certificate = p.conf / "tls" / "cert.pem";
    p.certificate_key = p.secrets / "tls-key.pem";
    p.rclone_config = p.secrets / "rclone.conf";
    p.access_disabled = p.conf / "access-disabled";
    return p;
}

} // namespace backup::core
