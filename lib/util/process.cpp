#include "util/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

extern char** environ;

namespace backup::util {

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

bool ProcessResult::exited() const {
    return WIFEXITED(wait_status);
}
int ProcessResult::exit_code() const {
    return exited() ? WEXITSTATUS(wait_status) : -1;
}
int ProcessResult::signal() const {
    return WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
}

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

std::string own_directory() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

std::optional<std::string> bundled_program(const std::string& name) {
    std::string dir = own_directory();
    if (dir.empty()) {
        return std::nullopt;
    }
    auto path = std::filesystem::path(dir).parent_path() / "libexec" / "restic-backup" / name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(path.c_str(), X_OK) == 0) {
        return path.lexically_normal().string();
    }
    return std::nullopt;
}

namespace {

// argv or envp for exec: the strings, and the NULL-terminated array pointing into them.
class CStringArray {
public:
    explicit CStringArray(std::vector<std::string> strings) : m_strings(std::move(strings)) {
        for (auto& s : m_strings) {
            m_pointers.push_back(s.data());
        }
        m_pointers.push_back(nullptr);
    }
    static CStringArray environment(const Environment& env) {
        std::vector<std::string> strings;
        strings.reserve(env.size());
        for (const auto& [name, value] : env) {
            strings.push_back(name + "=" + value);
        }
        return CStringArray(std::move(strings));
    }
    char* const* get() { return m_pointers.data(); }

private:
    std::vector<std::string> m_strings;
    std::vector<char*> m_pointers;
};

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

int remaining_ms(SteadyClock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count() + 1;
    return static_cast<int>(std::clamp<long long>(left, 0, 24LL * 3600 * 1000));
}

// The earlier of two optional times.
std::optional<SteadyClock::time_point> earliest(std::optional<SteadyClock::time_point> a,
                                                std::optional<SteadyClock::time_point> b) {
    if (!a) {
        return b;
    }
    if (!b) {
        return a;
    }
    return std::min(*a, *b);
}

// Where the child's stdin, stdout and stderr come from, as spawn file actions; the child's
// ends of any pipes are returned to be closed once the child has them.
struct StreamEnds {
    Fd in, out, err;
};

Expected<void> route_output(SpawnSetup& setup, Output mode, int fd, int target, Fd& child_end,
                            Fd& parent_end) {
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
        Pipe p = TRY(make_pipe());
        child_end = std::move(p.write);
        parent_end = std::move(p.read);
        posix_spawn_file_actions_adddup2(&setup.actions, child_end.get(), target);
        return {};
    }
    }
    return {};
}

Expected<void> route_streams(SpawnSetup& setup, const SpawnOptions& options, StreamEnds& ends,
                             Fd& in, Fd& out, Fd& err) {
    if (options.stdin_fd >= 0) {
        posix_spawn_file_actions_adddup2(&setup.actions, options.stdin_fd, STDIN_FILENO);
    } else if (options.stdin_data) {
        Pipe p = TRY(make_pipe());
        ends.in = std::move(p.read);
        in = std::move(p.write);
        posix_spawn_file_actions_adddup2(&setup.actions, ends.in.get(), STDIN_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    TRY(route_output(setup, options.stdout_mode, options.stdout_fd, STDOUT_FILENO, ends.out, out));
    TRY(route_output(setup, options.stderr_mode, options.stderr_fd, STDERR_FILENO, ends.err, err));
    return {};
}

// The child starts with no blocked signals and default dispositions, whatever this process
// (a daemon using signalfd, a tool ignoring SIGPIPE) has set for itself.
void set_attributes(SpawnSetup& setup, bool new_process_group) {
    sigset_t empty_mask, all_signals;
    sigemptyset(&empty_mask);
    sigfillset(&all_signals);
    sigdelset(&all_signals, SIGKILL);
    sigdelset(&all_signals, SIGSTOP);
    posix_spawnattr_setsigmask(&setup.attr, &empty_mask);
    posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&setup.attr, 0);
    }
    posix_spawnattr_setflags(&setup.attr, flags);
}

} // namespace

Expected<Child> Child::spawn(const SpawnOptions& options) {
    if (options.argv.empty()) {
        return fail(ExitCode::permanent, "run a program: no command given");
    }
    auto path_it = options.env.find("PATH");
    std::string search_path =
        path_it != options.env.end() ? path_it->second : "/usr/local/bin:/usr/bin:/bin";
    std::string program = TRY(find_executable(options.argv[0], search_path));

    Child child;
    SpawnSetup setup;
    StreamEnds ends;
    TRY(route_streams(setup, options, ends, child.m_in, child.m_out, child.m_err));
    if (!options.cwd.empty()) {
        posix_spawn_file_actions_addchdir_np(&setup.actions, options.cwd.c_str());
    }
    set_attributes(setup, options.new_process_group);

    CStringArray argv(options.argv);
    CStringArray envp = CStringArray::environment(options.env);
    pid_t pid = -1;
    int rc =
        ::posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attr, argv.get(), envp.get());
    if (rc != 0) {
        return fail_errno(rc, fmt::format("run {}", options.argv[0]));
    }
    child.m_pid = pid;
    child.m_group = options.new_process_group;
    child.m_kill_group_after_exit = options.new_process_group && options.kill_group_after_exit;
    child.m_grace = options.kill_grace;
    if (options.timeout) {
        child.m_deadline = SteadyClock::now() + *options.timeout;
    }
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
      m_status(other.m_status), m_deadline(other.m_deadline), m_kill_at(other.m_kill_at),
      m_grace(other.m_grace), m_stopping(other.m_stopping), m_timed_out(other.m_timed_out),
      m_pidfd(std::move(other.m_pidfd)), m_in(std::move(other.m_in)), m_out(std::move(other.m_out)),
      m_err(std::move(other.m_err)) {}

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

void Child::stop() {
    if (m_stopping || !running()) {
        return;
    }
    m_stopping = true;
    signal(SIGTERM);
    signal(SIGCONT);
    m_kill_at = SteadyClock::now() + m_grace;
}

std::optional<SteadyClock::time_point> Child::tick() {
    if (!running()) {
        return std::nullopt;
    }
    auto now = SteadyClock::now();
    if (m_deadline && !m_stopping && now >= *m_deadline) {
        m_timed_out = true;
        stop();
    }
    if (m_kill_at && now >= *m_kill_at) {
        signal(SIGKILL);
        m_kill_at.reset();
    }
    return next_event();
}

std::optional<SteadyClock::time_point> Child::next_event() const {
    if (!running()) {
        return std::nullopt;
    }
    return earliest(m_stopping ? std::nullopt : m_deadline, m_kill_at);
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
    auto until = SteadyClock::now() + timeout;
    while (!has_exited(m_pid)) {
        auto next = earliest(tick(), until);
        if (SteadyClock::now() >= until) {
            return std::optional<int>{};
        }
        int left = remaining_ms(*next);
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
        auto r = TRY(wait_for(milliseconds(3600 * 1000)));
        if (r) {
            return *r;
        }
    }
}

Expected<int> Child::terminate() {
    stop();
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

// The event loop of run(): one child, its pipes, its deadline and the caller's stop descriptor.
class Runner {
public:
    Runner(Child& child, const SpawnOptions& options)
        : m_child(child), m_options(options),
          m_to_write(options.stdin_data ? std::string_view(*options.stdin_data) : "") {
        if (m_child.in()) {
            ::fcntl(m_child.in().get(), F_SETFL, O_NONBLOCK);
            if (m_to_write.empty()) {
                m_child.in().reset();
            }
        }
    }

    Expected<ProcessResult> run() {
        while (m_child.out() || m_child.err() || !m_exited) {
            if (m_exited && SteadyClock::now() >= m_drain_until) {
                break;
            }
            TRY(poll_once());
            if (!m_exited) {
                auto status = TRY(m_child.wait_for(milliseconds(0)));
                if (status) {
                    m_result.wait_status = *status;
                    m_result.seconds =
                        std::chrono::duration<double>(SteadyClock::now() - m_started).count();
                    m_exited = true;
                    m_drain_until = SteadyClock::now() + m_options.drain_limit;
                }
            }
        }
        m_result.timed_out = m_child.timed_out();
        return std::move(m_result);
    }

private:
    Expected<void> poll_once() {
        std::vector<pollfd> fds;
        if (m_child.in()) {
            fds.push_back({m_child.in().get(), POLLOUT, 0});
        }
        for (Fd* pipe : {&m_child.out(), &m_child.err()}) {
            if (*pipe) {
                fds.push_back({pipe->get(), POLLIN, 0});
            }
        }
        std::optional<SteadyClock::time_point> next = m_drain_until;
        if (!m_exited) {
            next = m_child.tick();
            if (m_child.exit_fd()) {
                fds.push_back({m_child.exit_fd().get(), POLLIN, 0});
            }
            if (m_options.stop_fd >= 0 && !m_child.stopping()) {
                fds.push_back({m_options.stop_fd, POLLIN, 0});
            }
        }
        // Without a pidfd, nothing wakes the loop when the child exits: look often.
        int wait_ms = m_exited || m_child.exit_fd() ? 1000 : 10;
        if (next) {
            wait_ms = std::min(wait_ms, remaining_ms(*next));
        }
        if (::poll(fds.data(), fds.size(), wait_ms) < 0) {
            return errno == EINTR ? Expected<void>{}
                                  : fail_errno(errno, "wait for a child process's output");
        }
        for (const auto& pfd : fds) {
            if (pfd.revents != 0) {
                handle(pfd.fd);
            }
        }
        return {};
    }

    void handle(int fd) {
        if (fd == m_options.stop_fd && !m_exited) {
            m_result.stopped = true;
            m_child.stop();
        } else if (m_child.in() && fd == m_child.in().get()) {
            ssize_t w = ::write(fd, m_to_write.data(), m_to_write.size());
            if (w > 0) {
                m_to_write.remove_prefix(static_cast<size_t>(w));
            }
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || m_to_write.empty()) {
                m_child.in().reset(); // EPIPE: the child does not want more input
            }
        } else if (m_child.out() && fd == m_child.out().get()) {
            drain(m_child.out(), m_result.out);
        } else if (m_child.err() && fd == m_child.err().get()) {
            drain(m_child.err(), m_result.err);
        }
    }

    void drain(Fd& source, std::string& sink) {
        char buffer[65536];
        ssize_t r = ::read(source.get(), buffer, sizeof buffer);
        if (r > 0) {
            sink.append(buffer, static_cast<size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            source.reset();
        }
    }

    Child& m_child;
    const SpawnOptions& m_options;
    std::string_view m_to_write;
    ProcessResult m_result;
    SteadyClock::time_point m_started = SteadyClock::now();
    bool m_exited = false;
    SteadyClock::time_point m_drain_until{};
};

} // namespace

Expected<ProcessResult> run(const SpawnOptions& options) {
    BlockSigpipe block_sigpipe;
    Child child = TRY(Child::spawn(options));
    return Runner(child, options).run();
}

Error exec(const std::vector<std::string>& argv, const Environment& env) {
    if (argv.empty()) {
        return Error(ExitCode::permanent, "unable to run a program: no command given");
    }
    CStringArray args(argv);
    CStringArray envp = CStringArray::environment(env);
    std::fflush(nullptr);
    ::execve(argv.front().c_str(), args.get(), envp.get());
    return fail_errno(errno, fmt::format("run {}", argv.front())).error();
}

} // namespace backup::util
