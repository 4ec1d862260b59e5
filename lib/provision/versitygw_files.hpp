// What versitygw (the pinned version, scripts/install-deps) keeps on disk for an account and a
// bucket, written here without starting it: a new dedicated gateway's account is two small
// files' worth of state, and starting the gateway to make it through the admin API cost half of
// each provisioning. The formats are versitygw's internals, not an interface it promises:
// tests/e2e/test_versitygw_files.cpp compares them with what the pinned gateway's admin API
// writes and starts the gateway on them, so a version bump that changes them fails a test.
//
// - internal IAM (--iam-dir DIR): DIR/users.json, mode 0600, encoding/json of
//   {"accessAccounts": {ACCESS: auth.Account}}; secrets in plain text (nothing hashed or
//   encrypted: the file is the owner's, in the client's 0700 secrets/).
// - posix backend: a bucket is the directory DATA/BUCKET (0755, owned by the account's service
//   user) with the extended attributes user.acl (encoding/json of auth.ACL: the owner and its
//   FULL_CONTROL grant) and user.ownership (the object ownership, BucketOwnerEnforced, what
//   CreateBucket defaults to).
#pragma once

#include <filesystem>
#include <string>

#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

// users.json holding one account, access with secret and the role user, byte for byte what
// versitygw's CreateAccount writes into an empty IAM.
std::string versitygw_users_json(const std::string& access, const std::string& secret);
// The user.acl attribute of a bucket that account owner made: versitygw's bytes.
std::string versitygw_bucket_acl(const std::string& owner);

// The names and values of a bucket's attributes, as versitygw's CreateBucket stores them.
inline constexpr const char* k_versitygw_acl_attribute = "user.acl";
inline constexpr const char* k_versitygw_ownership_attribute = "user.ownership";
inline constexpr const char* k_versitygw_default_ownership = "BucketOwnerEnforced";

// Writes iam_dir/users.json with the one account (access, secret, role user), mode 0600, owned
// by owner (the gateway rewrites it as that user). iam_dir must hold no accounts yet: an
// existing users.json is refused (100), never replaced.
util::Expected<void> write_versitygw_account(const fs::path& iam_dir, const std::string& access,
                                             const std::string& secret, const Owner& owner);

// Makes data/bucket, owned by owner, as a bucket of the account access. Refused (100) when it
// exists; a file system without user extended attributes is an error (100) that says so (the
// gateway needs them too). On failure the directory is removed again.
util::Expected<void> make_versitygw_bucket(const fs::path& data, const std::string& bucket,
                                           const std::string& access, const Owner& owner);

} // namespace backup::core
