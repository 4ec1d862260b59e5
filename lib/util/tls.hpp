// X.509 certificates and TLS connections through OpenSSL: a private CA, the server certificates
// it signs, reading a certificate back, and a verifying TLS handshake. Keys are made and kept in
// memory and files, never on a command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::util {

// A new private key (EC P-256), PEM (PKCS#8).
Expected<std::string> generate_private_key();

// A self-signed CA certificate for key (PEM), valid from now for validity: basicConstraints
// CA:TRUE (critical), keyUsage keyCertSign and cRLSign, a random 128-bit serial.
Expected<std::string> make_ca_certificate(const std::string& key_pem,
                                          const std::string& common_name,
                                          std::chrono::seconds validity);

// A server certificate for key_pem signed by the CA (certificate and key PEM), valid from now for
// validity: subjectAltName with every name (an IPv4 or IPv6 literal becomes an IP entry, anything
// else a DNS entry), the first name as common name, extendedKeyUsage serverAuth, a random serial.
Expected<std::string> issue_certificate(const std::string& ca_pem, const std::string& ca_key_pem,
                                        const std::string& key_pem,
                                        const std::vector<std::string>& names,
                                        std::chrono::seconds validity);

struct CertificateInfo {
    std::string subject; // one line, e.g. "CN = backup.example.com"
    std::string issuer;
    std::string serial;          // uppercase hex, as `openssl x509 -serial` prints it
    std::int64_t not_before = 0; // seconds since the epoch
    std::int64_t not_after = 0;
    std::vector<std::string> names; // subjectAltName entries, DNS and IP, as text
    bool ca = false;
    std::string fingerprint_sha256; // lowercase hex of the DER
};

// The first certificate of a PEM text (100 when there is none or it does not parse).
Expected<CertificateInfo> read_certificate(const std::string& pem);
// Whether key_pem is the private key of the certificate (100 when either does not parse).
Expected<bool> certificate_matches_key(const std::string& certificate_pem,
                                       const std::string& key_pem);
// The first certificate of a PEM file.
Expected<CertificateInfo> read_certificate_file(const std::string& path);

// What a TLS handshake with a server showed.
struct TlsProbe {
    bool verified = false;    // the chain verified against the CAs and the name matched
    std::string verify_error; // why not, as OpenSSL says it ("self-signed certificate in chain")
    CertificateInfo served;   // the server's certificate
};

// Connects to address:port (TCP), does a TLS handshake sending server_name (SNI), and verifies
// the server's certificate against the CA certificates in ca_files (empty: the system's) and
// server_name (a host name or an IP literal). A handshake that fails for any reason but
// verification (no TLS on the port, refused, timeout) is an error (111); a certificate that
// does not verify is a TlsProbe with verified false.
Expected<TlsProbe> probe_tls(const std::string& address, int port, const std::string& server_name,
                             const std::vector<std::string>& ca_files,
                             std::chrono::milliseconds timeout);

} // namespace backup::util
