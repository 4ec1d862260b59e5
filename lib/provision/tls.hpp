// The storage servers' certificates: the server's own CA (made once, under <root>/tls), the
// certificate and key of each instance (issued by that CA, or copied from the operator's files),
// and the flags that make versitygw and rest-server use them.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

// The private CA: its certificate and key (PEM) and where the certificate is.
struct Authority {
    std::string certificate;
    std::string key;
    fs::path certificate_file; // <root>/tls/ca.pem
    // What clients trust (their backup-ca.pem): this CA, and after a rotation also the CA it
    // replaced (<root>/tls/ca-previous.pem), whose certificates the servers serve until renewed.
    std::string trust;
};

// The CA under layout's root: loaded when there is one; made (key 0600 in a 0700 directory,
// valid for tls.ca_validity) when there is none yet. The caller holds the server lock.
util::Expected<Authority> ensure_authority(const ServerConfig& server, const ServerLayout& layout);
// The CA when there is one.
util::Expected<std::optional<Authority>> load_authority(const ServerLayout& layout);
// A new CA in place of the current one, whose certificate is kept as ca-previous.pem (trusted
// beside the new one until the next rotation) and whose key is destroyed: nothing is signed with
// it any more.
util::Expected<Authority> rotate_authority(const ServerConfig& server, const ServerLayout& layout);

// Where an instance's certificate and key are (the key only readable by owner).
struct CertificateFiles {
    fs::path certificate;
    fs::path key;
};

// The names a certificate of the server carries: address (what clients connect to), the server's
// public_address, then tls.names, each once.
std::vector<std::string> certificate_names(const ServerConfig& server, const std::string& address);

// Writes an instance's key and certificate at files: a fresh key and a certificate for names
// from the CA (mode private_ca), or a copy of the operator's certificate and key (mode files).
// Directories on the way are made; nothing is written in mode off.
util::Expected<void> install_certificate(const ServerConfig& server,
                                         const std::optional<Authority>& authority,
                                         const CertificateFiles& files,
                                         const std::vector<std::string>& names, const Owner& owner);

// The command-line flags that make a server of kind use the certificate at files (the files'
// final paths), or "" without TLS.
std::string tls_flags(ServerKind kind, const std::optional<CertificateFiles>& files);

} // namespace backup::core
