#include "provision/tls.hpp"

#include <algorithm>

#include "util/fs.hpp"
#include "util/tls.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

fs::path ca_certificate_file(const ServerLayout& layout) {
    return layout.tls_dir() / "ca.pem";
}
fs::path ca_key_file(const ServerLayout& layout) {
    return layout.tls_dir() / "ca.key";
}
fs::path previous_ca_file(const ServerLayout& layout) {
    return layout.tls_dir() / "ca-previous.pem";
}

// The certificates clients trust: certificate, then the previous CA's when there is one.
Expected<std::string> trust_of(const ServerLayout& layout, const std::string& certificate) {
    std::error_code ec;
    if (!fs::exists(previous_ca_file(layout), ec)) {
        return certificate;
    }
    std::string previous = TRY(util::read_file(previous_ca_file(layout).string()));
    TRY(util::read_certificate(previous));
    return certificate + previous;
}

// A new CA's key and certificate, written over the current ones: the key last, so that a crash
// between the two leaves a pair load_authority refuses by name rather than one that signs
// certificates nobody can verify.
Expected<Authority> make_authority(const ServerConfig& server, const ServerLayout& layout) {
    std::string key = TRY(util::generate_private_key());
    std::string name = server.public_address.empty()
                           ? std::string("restic backup server CA")
                           : fmt::format("restic backup server CA ({})", server.public_address);
    std::string certificate = TRY(util::make_ca_certificate(key, name, server.tls.ca_validity));
    TRY(write_file(ca_certificate_file(layout), certificate, 0644));
    TRY(write_file(ca_key_file(layout), key, 0600));
    std::string trust = TRY(trust_of(layout, certificate));
    return Authority{certificate, key, ca_certificate_file(layout), trust};
}

Expected<void> make_tls_dir(const ServerLayout& layout) {
    fs::path dir = layout.tls_dir();
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
        return {};
    }
    return make_dir(dir, 0700);
}

} // namespace

Expected<std::optional<Authority>> load_authority(const ServerLayout& layout) {
    std::error_code ec;
    if (!fs::exists(ca_key_file(layout), ec) && !fs::exists(ca_certificate_file(layout), ec)) {
        return std::optional<Authority>();
    }
    std::string key = TRY(util::read_file(ca_key_file(layout).string()));
    std::string certificate = TRY(util::read_file(ca_certificate_file(layout).string()));
    TRY(util::read_certificate(certificate));
    if (!TRY(util::certificate_matches_key(certificate, key))) {
        return util::fail(ExitCode::permanent,
                          "use the CA under {}: ca.key is not the key of ca.pem (a rotation was "
                          "interrupted?); run new-restic-server --rotate-ca again",
                          layout.tls_dir().string());
    }
    std::string trust = TRY(trust_of(layout, certificate));
    return std::optional<Authority>(
        Authority{certificate, key, ca_certificate_file(layout), trust});
}

Expected<Authority> ensure_authority(const ServerConfig& server, const ServerLayout& layout) {
    if (auto existing = TRY(load_authority(layout))) {
        return *existing;
    }
    TRY(make_tls_dir(layout));
    return make_authority(server, layout);
}

Expected<Authority> rotate_authority(const ServerConfig& server, const ServerLayout& layout) {
    auto current = TRY(load_authority(layout));
    if (!current) {
        return util::fail(ExitCode::permanent,
                          "rotate the CA under {}: there is none yet (the first TLS client makes "
                          "it)",
                          layout.tls_dir().string());
    }
    // The old CA stays trusted until the next rotation: the servers keep serving certificates
    // it signed until they are renewed, and clients switch whenever their new CA file arrives.
    TRY(write_file(previous_ca_file(layout), current->certificate, 0644));
    return make_authority(server, layout);
}

std::vector<std::string> certificate_names(const ServerConfig& server, const std::string& address) {
    std::vector<std::string> names;
    auto add = [&](const std::string& name) {
        if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
            names.push_back(name);
        }
    };
    add(address);
    add(server.public_address);
    for (const auto& name : server.tls.names) {
        add(name);
    }
    return names;
}

Expected<void> install_certificate(const ServerConfig& server,
                                   const std::optional<Authority>& authority,
                                   const CertificateFiles& files,
                                   const std::vector<std::string>& names, const Owner& owner) {
    const TlsSettings& tls = server.tls;
    if (tls.mode == TlsSettings::Mode::off) {
        return {};
    }
    TRY(util::make_directories(files.certificate.parent_path().string(), 0755));
    std::string key;
    std::string certificate;
    if (tls.mode == TlsSettings::Mode::files) {
        certificate = TRY(util::read_file(tls.certificate));
        key = TRY(util::read_file(tls.key));
        if (auto read = util::read_certificate(certificate); !read) {
            return std::unexpected(read.error().with_context(tls.certificate));
        }
    } else if (authority) {
        key = TRY(util::generate_private_key());
        certificate = TRY(util::issue_certificate(authority->certificate, authority->key, key,
                                                  names, tls.validity));
    } else {
        return util::fail(ExitCode::permanent, "issue a certificate: there is no CA under {}",
                          files.certificate.string());
    }
    TRY(write_file(files.key, key, 0600, &owner));
    return write_file(files.certificate, certificate, 0644);
}

std::string tls_flags(ServerKind kind, const std::optional<CertificateFiles>& files) {
    if (!files) {
        return {};
    }
    if (kind == ServerKind::versitygw) {
        return fmt::format("--cert {} --key {}", files->certificate.string(), files->key.string());
    }
    return fmt::format("--tls --tls-cert {} --tls-key {}", files->certificate.string(),
                       files->key.string());
}

} // namespace backup::core
