#include "model/layout.hpp"

#include <sys/stat.h>

#include "util/dir.hpp"

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
    return {};
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
    p.access_disabled = p.conf / "access-disabled";
    return p;
}

} // namespace backup::core
