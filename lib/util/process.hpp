// The one way this toolkit starts programs: posix_spawn with an explicit environment, explicit
// standard streams and its own process group. Child owns a started process, its deadline and the
// one way to stop it (TERM and CONT to its group, KILL after a grace period); run() drives a
// Child to its end, exec() replaces this process.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::util {

using Environment = std::map<std::string, std::string>;
using SteadyClock = std::chrono::steady_clock;

// This process's environment as a map.
Environment current_environment();

// Where a child's stdout or stderr goes.
enum class Output {
    capture, // collected into ProcessResult (run) or readable from Child::out()/err()
    inherit, // this process's stream
    null,    // /dev/null
};

struct SpawnOptions {
    std::vector<std::string> argv; // argv[0] is looked up in env's PATH unless it holds a '/'
    Environment env;               // the child's whole environment
    std::string cwd;               // empty: this process's working directory
    std::optional<std::string> stdin_data; // run(): written to the child's stdin
    int stdin_fd = -1; // when >= 0, the child's stdin is this descriptor (else stdin_data or
                       // /dev/null)
    Output stdout_mode = Output::capture;
    Output stderr_mode = Output::capture;
    int stdout_fd = -1; // when >= 0, the child's stdout is this descriptor (stdout_mode ignored)
    int stderr_fd = -1; // when >= 0, the child's stderr is this descriptor (stderr_mode ignored)
    bool new_process_group = true;
    // Once the child has exited, SIGKILL whatever is left of its process group (only with
    // new_process_group), so nothing it started in the background outlives it.
    bool kill_group_after_exit = true;
    // From the start: when it expires, the child is stopped (see Child::stop) and counts as
    // timed out.
    std::optional<std::chrono::milliseconds> timeout;
    std::chrono::milliseconds kill_grace{2000}; // between TERM and KILL
    // run(): once the child has exited, its pipes are read for at most this long (a grandchild
    // that left the group may hold them open forever).
    std::chrono::milliseconds drain_limit{2000};
    // run(): when this descriptor becomes readable (a signalfd, an eventfd), the child is stopped
    // as at a timeout. run() never reads it: what it says is the caller's to take.
    int stop_fd = -1;
};

// How a process ended.
struct ProcessResult {
    int wait_status = 0;
    bool timed_out = false; // stopped because its timeout expired
    bool stopped = false;   // stopped because stop_fd became readable
    std::string out;
    std::string err;
    double seconds = 0; // from start to exit

    bool exited() const;
    // The exit code, or -1 when killed by a signal.
    int exit_code() const;
    // The signal that killed it, or 0.
    int signal() const;
    bool success() const { return exited() && exit_code() == 0; }
    // "exited with status 3", "killed by signal 9 (Killed)", "timed out and killed by ...".
    std::string describe() const;
};

// The path of an executable: name itself when it holds a '/', else the first match in the
// colon-separated search path.
Expected<std::string> find_executable(const std::string& name, const std::string& search_path);

// The directory of the running executable (/proc/self/exe); empty when it cannot be told.
std::string own_directory();

// The programs installed with the toolkit that are not its own (restic, rest-server, versitygw,
// rclone at their pinned versions): <own_directory>/../libexec/restic-backup/NAME when that is
// an executable file, else nullopt (then PATH decides).
std::optional<std::string> bundled_program(const std::string& name);

// A started child process. Destroying a Child that has not been waited for kills it (its whole
// group when it has one) and reaps it, so no child outlives its owner by accident.
class Child {
public:
    // Output::capture gives pipes readable through out() and err(); stdin_data gives a pipe
    // writable through in().
    static Expected<Child> spawn(const SpawnOptions& options);

    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    Child(Child&& other) noexcept;
    Child& operator=(Child&& other) noexcept;
    ~Child();

    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0 && !m_reaped; }
    // Read ends of captured stdout/stderr and the write end of stdin (invalid when not piped).
    Fd& out() { return m_out; }
    Fd& err() { return m_err; }
    Fd& in() { return m_in; }
    // Readable once the child has exited (a pidfd); invalid where the kernel has no pidfd.
    const Fd& exit_fd() const { return m_pidfd; }

    // Asks the child to stop: TERM and CONT to its group now, KILL once the grace period has
    // passed (sent by a later tick()). A second call changes nothing.
    void stop();
    bool stopping() const { return m_stopping; }
    // Whether the timeout stopped it.
    bool timed_out() const { return m_timed_out; }
    // Acts on the deadline and the pending KILL when their time has come; returns when it must be
    // called next (nullopt: nothing pending). An event loop calls it each time round.
    std::optional<SteadyClock::time_point> tick();
    // When tick() next has something to do, without doing it.
    std::optional<SteadyClock::time_point> next_event() const;

    // Waits up to timeout for the child to exit (calling tick() meanwhile); nullopt if it still
    // runs. Reaps it.
    Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout);
    // Waits until it exits; returns the wait status.
    Expected<int> wait();
    // Sends sig to the child's process group (or the child alone without a group).
    void signal(int sig) const;
    // stop(), then waits for it to exit; returns the wait status.
    Expected<int> terminate();

private:
    Child() = default;
    void reap_exited(int status);

    pid_t m_pid = -1;
    bool m_group = false;
    bool m_kill_group_after_exit = false;
    bool m_reaped = false;
    int m_status = 0;
    std::optional<SteadyClock::time_point> m_deadline;
    std::optional<SteadyClock::time_point> m_kill_at;
    std::chrono::milliseconds m_grace{2000};
    bool m_stopping = false;
    bool m_timed_out = false;
    Fd m_pidfd;
    Fd m_in;
    Fd m_out;
    Fd m_err;
};

// Runs a program to completion: feeds stdin_data, captures what is asked, stops it at its
// timeout or when stop_fd becomes readable. The error case is "could not start it" (or could
// not wait for it); a non-zero exit is a ProcessResult.
Expected<ProcessResult> run(const SpawnOptions& options);

// Replaces this process with argv[0] (a path, not looked up) and the environment env, as a
// shell's exec does: standard streams, terminal and signal dispositions stay. Returns only when
// execve fails, with that error (111).
Error exec(const std::vector<std::string>& argv, const Environment& env);

} // namespace backup::util
