#include "util/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

extern char** environ;

namespace backup::util {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Environment current_environment() {
    Environment env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view kv(*entry);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            continue;
        }
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return env;
}

bool ProcessResult::exited() const { return WIFEXITED(wait_status); }
int ProcessResult::exit_code() const { return exited() ? WEXITSTATUS(wait_status) : -1; }
int ProcessResult::signal() const { return WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0; }

std::string ProcessResult::describe() const {
    std::string what;
    if (exited()) {
        what = fmt::format("exited with status {}", exit_code());
    } else if (signal() != 0) {
        what = fmt::format("killed by signal {} ({})", signal(), strsignal(signal()));
    } else {
        what = fmt::format("ended with wait status {}", wait_status);
    }
    return timed_out ? fmt::format("timed out and {}", what) : what;
}

Expected<std::string> find_executable(const std::string& name, const std::string& search_path) {
    if (name.empty()) {
        return fail(ExitCode::permanent, "run a program: empty program name");
    }
    if (name.find('/') != std::string::npos) {
        return name;
    }
    std::string_view rest = search_path;
    while (true) {
        auto colon = rest.find(':');
        std::string_view dir = rest.substr(0, colon);
        std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        if (colon == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(colon + 1);
    }
    return fail(ExitCode::permanent, "run {}: not found in PATH ({})", name, search_path);
}

namespace {

// posix_spawn attributes and file actions, destroyed with the scope.
class SpawnSetup {
public:
    SpawnSetup() {
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_init(&actions);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;

    posix_spawnattr_t attr{};
    posix_spawn_file_actions_t actions{};
};

// Exited but not yet reaped (waitid with WNOWAIT leaves the zombie, so its pid, and with it the
// process group id, cannot be reused while we still signal the group).
bool has_exited(pid_t pid) {
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno != EINTR) {
            return true; // ECHILD: already gone
        }
    }
    return info.si_pid != 0;
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

} // namespace

Expected<Child> Child::spawn(const SpawnOptions& options) {
    if (options.argv.empty()) {
        return fail(ExitCode::permanent, "run a program: no command given");
    }
    auto path_it = options.env.find("PATH");
    std::string search_path = path_it != options.env.end() ? path_it->second
                                                           : "/usr/local/bin:/usr/bin:/bin";
    auto program = find_executable(options.argv[0], search_path);
    if (!program) {
        return std::unexpected(program.error());
    }

    Child child;
    SpawnSetup setup;
    Fd child_in, child_out, child_err;

    if (options.stdin_data) {
        auto p = make_pipe();
        if (!p) {
            return std::unexpected(p.error());
        }
        child_in = std::move(p->read);
        child.m_in = std::move(p->write);
        posix_spawn_file_actions_adddup2(&setup.actions, child_in.get(), STDIN_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }

    auto route = [&](Output mode, int fd, int target, Fd& child_end, Fd& parent_end)
        -> Expected<void> {
        if (fd >= 0) {
            posix_spawn_file_actions_adddup2(&setup.actions, fd, target);
            return {};
        }
        switch (mode) {
        case Output::inherit:
            return {};
        case Output::null:
            posix_spawn_file_actions_addopen(&setup.actions, target, "/dev/null", O_WRONLY, 0);
            return {};
        case Output::capture: {
            auto p = make_pipe();
            if (!p) {
                return std::unexpected(p.error());
            }
            child_end = std::move(p->write);
            parent_end = std::move(p->read);
            posix_spawn_file_actions_adddup2(&setup.actions, child_end.get(), target);
            return {};
        }
        }
        return {};
    };
    if (auto r = route(options.stdout_mode, options.stdout_fd, STDOUT_FILENO, child_out,
                       child.m_out);
        !r) {
        return std::unexpected(r.error());
    }
    if (auto r = route(options.stderr_mode, options.stderr_fd, STDERR_FILENO, child_err,
                       child.m_err);
        !r) {
        return std::unexpected(r.error());
    }
    if (!options.cwd.empty()) {
        posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd.c_str());
    }

    // The child starts with no blocked signals and default dispositions, whatever this process
    // (a daemon using signalfd, a tool ignoring SIGPIPE) has set for itself.
    sigset_t empty_mask, all_signals;
    sigemptyset(&empty_mask);
    sigfillset(&all_signals);
    sigdelset(&all_signals, SIGKILL);
    sigdelset(&all_signals, SIGSTOP);
    posix_spawnattr_setsigmask(&setup.attr, &empty_mask);
    posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (options.new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&setup.attr, 0);
    }
    posix_spawnattr_setflags(&setup.attr, flags);

    std::vector<std::string> env_strings;
    env_strings.reserve(options.env.size());
    for (const auto& [name, value] : options.env) {
        env_strings.push_back(name + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = options.argv;
    std::vector<char*> argv;
    for (auto& s : argv_copy) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, program->c_str(), &setup.actions, &setup.attr, argv.data(),
                           envp.data());
    if (rc != 0) {
        return fail_errno(rc, fmt::format("run {}", options.argv[0]));
    }
    child.m_pid = pid;
    child.m_group = options.new_process_group;
    child.m_kill_group_after_exit = options.new_process_group && options.kill_group_after_exit;
    // glibc 2.36's <sys/pidfd.h> lacks C linkage for C++; the system call is stable.
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
        child.m_pidfd.reset(pidfd);
    }
    return child;
}

Child::Child(Child&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)), m_group(other.m_group),
      m_kill_group_after_exit(other.m_kill_group_after_exit), m_reaped(other.m_reaped),
      m_status(other.m_status), m_pidfd(std::move(other.m_pidfd)), m_in(std::move(other.m_in)),
      m_out(std::move(other.m_out)), m_err(std::move(other.m_err)) {}

Child& Child::operator=(Child&& other) noexcept {
    if (this != &other) {
        this->~Child();
        new (this) Child(std::move(other));
    }
    return *this;
}

Child::~Child() {
    if (running()) {
        signal(SIGKILL);
        (void)wait();
    }
}

void Child::signal(int sig) const {
    if (!running()) {
        return;
    }
    // The zombie of an exited but unreaped leader still holds the group id, so signalling the
    // group stays safe until we reap it.
    if (m_group) {
        ::kill(-m_pid, sig);
    } else {
        ::kill(m_pid, sig);
    }
}

void Child::reap_exited(int status) {
    m_status = status;
    m_reaped = true;
    m_pidfd.reset();
}

Expected<std::optional<int>> Child::wait_for(milliseconds timeout) {
    if (m_reaped) {
        return m_status;
    }
    auto deadline = Clock::now() + timeout;
    while (!has_exited(m_pid)) {
        int left = remaining_ms(deadline);
        if (left == 0) {
            return std::optional<int>{};
        }
        if (m_pidfd) {
            pollfd pfd{m_pidfd.get(), POLLIN, 0};
            if (::poll(&pfd, 1, left) < 0 && errno != EINTR) {
                return fail_errno(errno, "wait for a child process");
            }
        } else {
            std::this_thread::sleep_for(milliseconds(std::min(left, 10)));
        }
    }
    if (m_kill_group_after_exit) {
        ::kill(-m_pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return fail_errno(errno, fmt::format("wait for process {}", m_pid));
        }
    }
    reap_exited(status);
    return status;
}

Expected<int> Child::wait() {
    for (;;) {
        auto r = wait_for(milliseconds(3600 * 1000));
        if (!r) {
            return std::unexpected(r.error());
        }
        if (*r) {
            return **r;
        }
    }
}

Expected<int> Child::terminate(milliseconds grace) {
    if (m_reaped) {
        return m_status;
    }
    signal(SIGTERM);
    signal(SIGCONT);
    auto r = wait_for(grace);
    if (!r) {
        return std::unexpected(r.error());
    }
    if (*r) {
        return **r;
    }
    signal(SIGKILL);
    return wait();
}

namespace {

// Writing to a pipe whose reader is gone raises SIGPIPE; block it in this thread while feeding a
// child, and discard the one we caused.
class BlockSigpipe {
public:
    BlockSigpipe() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        m_was_pending = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &set, &m_old);
    }
    ~BlockSigpipe() {
        if (!m_was_pending) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGPIPE);
            timespec zero{0, 0};
            while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
    }
    BlockSigpipe(const BlockSigpipe&) = delete;
    BlockSigpipe& operator=(const BlockSigpipe&) = delete;

private:
    sigset_t m_old{};
    bool m_was_pending = false;
};

} // namespace

Expected<ProcessResult> run(const SpawnOptions& options) {
    BlockSigpipe block_sigpipe;
    auto spawned = Child::spawn(options);
    if (!spawned) {
        return std::unexpected(spawned.error());
    }
    Child& child = *spawned;
    ProcessResult result;
    std::string_view to_write = options.stdin_data ? std::string_view(*options.stdin_data) : "";
    if (child.in()) {
        ::fcntl(child.in().get(), F_SETFL, O_NONBLOCK);
        if (to_write.empty()) {
            child.in().reset();
        }
    }

    auto start = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (options.timeout) {
        deadline = start + *options.timeout;
    }
    std::optional<Clock::time_point> kill_at;
    bool exited = false;
    // Once the child is gone, its pipes are drained for at most this long: a grandchild that
    // left the group may hold them open forever.
    std::optional<Clock::time_point> drain_until;

    char buffer[65536];
    while (child.out() || child.err() || !exited) {
        std::vector<pollfd> fds;
        if (child.in()) {
            fds.push_back({child.in().get(), POLLOUT, 0});
        }
        if (child.out()) {
            fds.push_back({child.out().get(), POLLIN, 0});
        }
        if (child.err()) {
            fds.push_back({child.err().get(), POLLIN, 0});
        }
        int wait_ms = 50;
        if (!exited && child.exit_fd()) {
            fds.push_back({child.exit_fd().get(), POLLIN, 0});
            wait_ms = 1000;
            for (auto t : {deadline, kill_at}) {
                if (t && !(t == deadline && result.timed_out)) {
                    wait_ms = std::min(wait_ms, remaining_ms(*t) + 1);
                }
            }
        } else if (!exited) {
            wait_ms = 10;
        }
        if (!exited) {
            auto r = child.wait_for(milliseconds(0));
            if (!r) {
                return std::unexpected(r.error());
            }
            if (*r) {
                result.wait_status = **r;
                exited = true;
                drain_until = Clock::now() + options.kill_grace;
                continue;
            }
            if (deadline && !result.timed_out && Clock::now() >= *deadline) {
                result.timed_out = true;
                child.signal(SIGTERM);
                child.signal(SIGCONT);
                kill_at = Clock::now() + options.kill_grace;
            }
            if (kill_at && Clock::now() >= *kill_at) {
                child.signal(SIGKILL);
                kill_at.reset();
            }
        } else if (drain_until && Clock::now() >= *drain_until) {
            break;
        }
        if (fds.empty()) {
            std::this_thread::sleep_for(milliseconds(wait_ms));
            continue;
        }
        int n = ::poll(fds.data(), fds.size(), wait_ms);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, "wait for a child process's output");
        }
        for (const auto& pfd : fds) {
            if (pfd.revents == 0 || (child.exit_fd() && pfd.fd == child.exit_fd().get())) {
                continue;
            }
            if (child.in() && pfd.fd == child.in().get()) {
                ssize_t w = ::write(pfd.fd, to_write.data(), to_write.size());
                if (w > 0) {
                    to_write.remove_prefix(static_cast<size_t>(w));
                }
                if ((w < 0 && errno != EAGAIN && errno != EINTR) || to_write.empty()) {
                    child.in().reset(); // EPIPE: the child does not want more input
                }
                continue;
            }
            Fd& source = (child.out() && pfd.fd == child.out().get()) ? child.out() : child.err();
            std::string& sink = (&source == &child.out()) ? result.out : result.err;
            ssize_t r = ::read(pfd.fd, buffer, sizeof buffer);
            if (r > 0) {
                sink.append(buffer, static_cast<size_t>(r));
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                source.reset();
            }
        }
    }
    return result;
}

} // namespace backup::util
