// Before restic runs: the files the environ names must be there, and an https repository's server
// must present a certificate the client trusts. restic itself retries a certificate it does not
// trust for about 15 minutes and then exits 1; checking first gives the operator the reason at
// once, as a permanent error.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/process.hpp"

namespace backup::core {

// The CA files RESTIC_CACERT names (comma-separated, as restic reads it); none when unset.
std::vector<std::string> ca_files_of(const util::Environment& env);

// Each CA file must be a readable file: else 100, saying where the file comes from.
util::Expected<void> check_ca_files(const util::Environment& env);

struct RepositoryServer {
    std::string host; // a name or an IP literal (without brackets)
    int port = 443;
};
// The server of a "rest:https://..." or "s3:https://..." location; nullopt for anything else
// (plain HTTP, a local path, sftp:, ...).
std::optional<RepositoryServer> https_server_of(std::string_view repository);

// For an https RESTIC_REPOSITORY: a TLS handshake with its server, verified against the CA files
// (else the system's) and the server's name. A certificate that does not verify is 100; a server
// that cannot be reached is nothing here (restic reports it, and retries).
util::Expected<void> check_server_certificate(const util::Environment& env);

} // namespace backup::core
