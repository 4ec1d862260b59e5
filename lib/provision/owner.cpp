#include "provision/owner.hpp"

#include <cerrno>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<Owner> resolve_owner(const std::string& user, const std::string& group) {
    Owner o{user, group, 0, 0};
    std::vector<char> buffer(16384);
    passwd pw{};
    passwd* pw_result = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &pw_result) != 0 ||
        pw_result == nullptr) {
        return util::fail(ExitCode::permanent,
                          "use owner user '{}': no such user (create it, or give -U/owner.user)",
                          user);
    }
    o.uid = pw.pw_uid;
    struct group gr {};
    struct group* gr_result = nullptr;
    if (getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &gr_result) != 0 ||
        gr_result == nullptr) {
        return util::fail(ExitCode::permanent,
                          "use owner group '{}': no such group (create it, or give -G/owner.group)",
                          group);
    }
    o.gid = gr.gr_gid;
    return o;
}

Expected<Owner> owner_of(const fs::path& path, std::string_view what) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return util::fail_errno(errno, fmt::format("find {}", what));
    }
    return Owner{std::to_string(st.st_uid), std::to_string(st.st_gid), st.st_uid, st.st_gid};
}

namespace {

Expected<void> set_owner(const fs::path& path, const Owner& owner) {
    if (::lchown(path.c_str(), owner.uid, owner.gid) != 0) {
        return util::fail_errno(errno, fmt::format("change the owner of {} to {}:{}", path.string(),
                                                   owner.user, owner.group));
    }
    return {};
}

} // namespace

Expected<void> make_dir(const fs::path& path, unsigned mode, const Owner* owner) {
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0) {
        return util::fail_errno(errno, fmt::format("create directory {}", path.string()));
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
        return util::fail_errno(errno, fmt::format("set the mode of {}", path.string()));
    }
    return owner != nullptr ? set_owner(path, *owner) : Expected<void>{};
}

Expected<void> write_file(const fs::path& path, std::string_view text, unsigned mode,
                          const Owner* owner) {
    TRY(util::atomic_write(path.string(), text, mode));
    return owner != nullptr ? set_owner(path, *owner) : Expected<void>{};
}

} // namespace backup::core
