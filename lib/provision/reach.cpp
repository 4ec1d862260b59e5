#include "provision/reach.hpp"

#include <cerrno>
#include <cstring>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fd.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

struct Probe {
    std::string path;
    int mode = 0;
    std::size_t reach = 0; // index into the reaches
};

int mode_of(Reach::Need need) {
    switch (need) {
    case Reach::Need::execute:
    case Reach::Need::search:
        return X_OK;
    case Reach::Need::read_write:
        return R_OK | W_OK | X_OK;
    }
    return X_OK;
}

// Every directory above each path (searched, top down), then the path itself: the first probe
// that fails for a reach is what blocks it.
std::vector<Probe> probes_of(const std::vector<Reach>& reaches) {
    std::vector<Probe> probes;
    for (std::size_t i = 0; i < reaches.size(); ++i) {
        fs::path path = reaches[i].path.lexically_normal();
        std::vector<fs::path> above;
        for (fs::path p = path.parent_path(); !p.empty() && p != p.root_path();
             p = p.parent_path()) {
            above.push_back(p);
        }
        for (auto it = above.rbegin(); it != above.rend(); ++it) {
            probes.push_back({it->string(), X_OK, i});
        }
        probes.push_back({path.string(), mode_of(reaches[i].need), i});
    }
    return probes;
}

// Only access(2) and write(2) between fork and _exit: the strings are made before the fork.
[[noreturn]] void run_probes_as(const Owner& owner, const std::vector<Probe>& probes, int out) {
    gid_t gid = owner.gid;
    if (::setgroups(1, &gid) != 0 || ::setgid(owner.gid) != 0 || ::setuid(owner.uid) != 0) {
        int error = -errno;
        (void)!::write(out, &error, sizeof error);
        ::_exit(1);
    }
    for (const auto& probe : probes) {
        int result = ::access(probe.path.c_str(), probe.mode) == 0 ? 0 : errno;
        if (::write(out, &result, sizeof result) != sizeof result) {
            ::_exit(1);
        }
    }
    ::_exit(0);
}

Expected<std::vector<int>> results_as(const Owner& owner, const std::vector<Probe>& probes) {
    if (::geteuid() != 0) {
        std::vector<int> results;
        for (const auto& probe : probes) {
            results.push_back(::access(probe.path.c_str(), probe.mode) == 0 ? 0 : errno);
        }
        return results;
    }
    util::Pipe pipe = TRY(util::make_pipe());
    pid_t pid = ::fork();
    if (pid < 0) {
        return util::fail_errno(errno, "fork to check the service user's access");
    }
    if (pid == 0) {
        pipe.read.reset();
        run_probes_as(owner, probes, pipe.write.get());
    }
    pipe.write.reset();
    auto bytes = util::read_all(pipe.read.get(), "the access check's results");
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!bytes) {
        return std::unexpected(bytes.error());
    }
    std::vector<int> results(bytes->size() / sizeof(int));
    std::memcpy(results.data(), bytes->data(), results.size() * sizeof(int));
    if (!results.empty() && results.front() < 0) {
        return util::fail_errno(
            -results.front(),
            fmt::format("take the ids of {}:{} to check what they reach", owner.user, owner.group));
    }
    if (results.size() != probes.size() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return util::fail(ExitCode::temporary, "check what {}:{} reaches: the check did not finish",
                          owner.user, owner.group);
    }
    return results;
}

std::string verb_of(Reach::Need need) {
    switch (need) {
    case Reach::Need::execute:
        return "run";
    case Reach::Need::search:
        return "reach";
    case Reach::Need::read_write:
        return "write to";
    }
    return "reach";
}

} // namespace

Expected<std::optional<Unreachable>> first_unreachable(const Owner& owner,
                                                       const std::vector<Reach>& reaches) {
    if (::geteuid() != 0 && ::geteuid() != owner.uid) {
        return std::nullopt; // cannot take its ids; chown will refuse later anyway
    }
    std::vector<Probe> probes = probes_of(reaches);
    std::vector<int> results = TRY(results_as(owner, probes));
    for (std::size_t i = 0; i < probes.size(); ++i) {
        if (results[i] != 0) {
            return Unreachable{reaches[probes[i].reach], results[i], fs::path(probes[i].path)};
        }
    }
    return std::nullopt;
}

Expected<void> check_reach(const Owner& owner, const std::vector<Reach>& reaches) {
    auto unreachable = TRY(first_unreachable(owner, reaches));
    if (!unreachable) {
        return {};
    }
    const Unreachable& u = *unreachable;
    std::string why =
        u.blocker == u.reach.path.lexically_normal()
            ? std::string(std::strerror(u.error))
            : fmt::format("it cannot search {} ({})", u.blocker.string(), std::strerror(u.error));
    std::string advice =
        u.reach.need == Reach::Need::execute
            ? "install the programs where the service user can reach them (make install, or the "
              "Debian package), or name such copies under binaries: in the server config"
            : fmt::format("give {}:{} access to it, or use another path", owner.user, owner.group);
    return util::fail(
        ExitCode::permanent, "{} {} ({}) as the service user {}: {}; {}; nothing was changed",
        verb_of(u.reach.need), u.reach.what, u.reach.path.string(), owner.user, why, advice);
}

} // namespace backup::core
