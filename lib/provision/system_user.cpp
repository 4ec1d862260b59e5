#include "provision/system_user.hpp"

#include <cstdlib>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "util/process.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

bool user_exists(const std::string& name) {
    std::vector<char> buffer(16384);
    passwd pw{};
    passwd* result = nullptr;
    return getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &result) == 0 &&
           result != nullptr;
}

bool group_exists(const std::string& name) {
    std::vector<char> buffer(16384);
    struct group gr {};
    struct group* result = nullptr;
    return getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &result) == 0 &&
           result != nullptr;
}

// The shadow tools live in /usr/sbin, which a cron job's or a test's PATH may lack.
Expected<std::string> shadow_tool(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string search = std::string(path != nullptr ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
    auto found = util::find_executable(name, search);
    if (!found) {
        return util::fail(ExitCode::permanent,
                          "find {}: not installed (apt-get install passwd); or name the user the "
                          "client's services run as with -U/-G, or set client_users: off in the "
                          "server config",
                          name);
    }
    return *found;
}

// Runs a shadow tool; its exit code, or an error when it could not be run.
Expected<util::ProcessResult> run_tool(const std::string& tool, std::vector<std::string> args) {
    util::SpawnOptions o;
    o.argv = {TRY(shadow_tool(tool))};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = util::current_environment();
    o.timeout = std::chrono::seconds(60);
    return util::run(o);
}

std::string first_line(const util::ProcessResult& r) {
    std::string text = r.err.empty() ? r.out : r.err;
    auto nl = text.find('\n');
    return fmt::format(
        "{}{}", r.describe(),
        text.empty() ? "" : ": " + text.substr(0, nl == std::string::npos ? text.size() : nl));
}

} // namespace

Expected<Owner> create_system_user(const std::string& name, const std::string& host) {
    std::string what = fmt::format("create system user {} for {}", name, host);
    if (user_exists(name) || group_exists(name)) {
        return util::fail(ExitCode::permanent,
                          "{}: a {} of that name exists already (not made for this client, or "
                          "left behind); remove it, or name the user the client's services run as "
                          "with -U/-G; nothing was changed",
                          what, user_exists(name) ? "user" : "group");
    }
    if (::geteuid() != 0) {
        return util::fail(ExitCode::permanent,
                          "{}: only root can; run new-restic-server as root, or name the user "
                          "the client's services run as with -U/-G (this user's own name)",
                          what);
    }
    auto r = TRY(run_tool("useradd", {"--system", "--user-group", "--no-create-home", "--home-dir",
                                      "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment",
                                      fmt::format("restic backups of {}", host), name}));
    if (!r.success()) {
        // 9: the name is taken (by a concurrent useradd); otherwise a lock or a full disk.
        auto code = r.exit_code() == 9 ? ExitCode::permanent : ExitCode::temporary;
        return util::fail(code, "{}: useradd {}; nothing was changed", what, first_line(r));
    }
    auto owner = resolve_owner(name, name);
    if (!owner) {
        (void)delete_system_user(name);
        return std::unexpected(owner.error().with_context(what));
    }
    return owner;
}

Expected<void> delete_system_user(const std::string& name) {
    if (user_exists(name)) {
        auto r = TRY(run_tool("userdel", {name}));
        // 6: no such user (gone meanwhile).
        if (!r.success() && r.exit_code() != 6) {
            return util::fail(ExitCode::temporary, "delete system user {}: userdel {}", name,
                              first_line(r));
        }
    }
    if (group_exists(name)) {
        auto r = TRY(run_tool("groupdel", {name}));
        if (!r.success() && r.exit_code() != 6) {
            return util::fail(ExitCode::temporary, "delete group {}: groupdel {}", name,
                              first_line(r));
        }
    }
    return {};
}

} // namespace backup::core
