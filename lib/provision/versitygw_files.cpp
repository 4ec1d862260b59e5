#include "provision/versitygw_files.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/fd.hpp"
#include "util/json.hpp"
#include "util/scope_guard.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

std::string versitygw_users_json(const std::string& access, const std::string& secret) {
    // Go's encoding/json: struct fields in declaration order (auth.Account), compact.
    nlohmann::ordered_json account = {{"access", access}, {"secret", secret}, {"role", "user"},
                                      {"userID", 0},      {"groupID", 0},     {"projectID", 0}};
    nlohmann::ordered_json users = {{"accessAccounts", {{access, account}}}};
    return users.dump();
}

std::string versitygw_bucket_acl(const std::string& owner) {
    nlohmann::ordered_json grant = {
        {"Permission", "FULL_CONTROL"}, {"Access", owner}, {"Type", "CanonicalUser"}};
    nlohmann::ordered_json acl = {{"Owner", owner}, {"Grantees", nlohmann::ordered_json::array()}};
    acl["Grantees"].push_back(grant);
    return acl.dump();
}

Expected<void> write_versitygw_account(const fs::path& iam_dir, const std::string& access,
                                       const std::string& secret, const Owner& owner) {
    fs::path file = iam_dir / "users.json";
    struct stat st {};
    if (::lstat(file.c_str(), &st) == 0) {
        return util::fail(ExitCode::permanent,
                          "create the account {} in {}: the gateway has accounts already", access,
                          file.string());
    }
    return write_file(file, versitygw_users_json(access, secret), 0600, &owner);
}

Expected<void> make_versitygw_bucket(const fs::path& data, const std::string& bucket,
                                     const std::string& access, const Owner& owner) {
    fs::path dir = data / bucket;
    // 0755 is versitygw's mode for a new bucket; data/ itself is 0750.
    TRY(make_dir(dir, 0755, &owner));
    util::ScopeGuard remove_dir([&] { ::rmdir(dir.c_str()); });
    util::Fd fd = TRY(util::open_fd(dir.string(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    std::string acl = versitygw_bucket_acl(access);
    std::string_view ownership = k_versitygw_default_ownership;
    for (const auto& [name, value] :
         {std::pair<const char*, std::string_view>{k_versitygw_acl_attribute, acl},
          {k_versitygw_ownership_attribute, ownership}}) {
        if (::fsetxattr(fd.get(), name, value.data(), value.size(), 0) != 0) {
            int error = errno;
            if (error == ENOTSUP) {
                return util::fail(ExitCode::permanent,
                                  "create the bucket {}: the file system of {} has no user "
                                  "extended attributes, which versitygw keeps a bucket's owner in",
                                  bucket, data.string());
            }
            return util::fail_errno(error, fmt::format("set {} of {}", name, dir.string()));
        }
    }
    remove_dir.dismiss();
    return {};
}

} // namespace backup::core
