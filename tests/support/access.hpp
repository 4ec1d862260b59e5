// Attempts to read, list, write and delete another client's storage with given credentials,
// straight at the protocol level (rclone for S3, curl for rest-server), without the long
// retries restic makes, to prove isolation.
#pragma once

#include <string>
#include <vector>

#include "model/config.hpp"
#include "support/fixtures.hpp"

namespace backup::test {

// read_only: list and read only (safe against one's own repository); all: also write, delete
// and create.
enum class Probes { read_only, all };

struct AccessAttempt {
    std::string operation; // "list", "read", "write", "delete", "create bucket"...
    bool succeeded = false;
    std::string detail;
};

// S3 operations on bucket at endpoint with the given keys (credentials by environment).
std::vector<AccessAttempt> s3_attempts(const std::string& endpoint, const std::string& access_key,
                                       const std::string& secret_key, const std::string& bucket,
                                       const fs::path& work, Probes probes = Probes::all,
                                       const std::string& ca_file = "");

// REST operations (restic's REST protocol) on repository path repo at endpoint as user
// (password by curl config on stdin, never on the command line).
std::vector<AccessAttempt> rest_attempts(const std::string& endpoint, const std::string& user,
                                         const std::string& password, const std::string& repo,
                                         Probes probes = Probes::all,
                                         const std::string& ca_file = "");

// The probes of the target client's repository (its kind, endpoint, bucket or repository path)
// with the credentials in a client's restic environment (AWS_* or RESTIC_REST_*, and
// RESTIC_CACERT to trust the server's certificate).
std::vector<AccessAttempt> client_attempts(const Environment& credentials,
                                           const core::ClientConfig& target, const fs::path& work,
                                           Probes probes = Probes::all);

// The attempt named operation; fails the test when there is none.
const AccessAttempt& attempt_named(const std::vector<AccessAttempt>& attempts,
                                   const std::string& operation);

// The attempts that succeeded, as text; empty when every one was refused.
std::string successful(const std::vector<AccessAttempt>& attempts);

} // namespace backup::test
