// The one way this toolkit starts programs: posix_spawn with an explicit environment, explicit
// standard streams, its own process group, and a timeout that stops the whole group.
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
    std::optional<std::string> stdin_data; // written to the child's stdin; nullopt: /dev/null
    Output stdout_mode = Output::capture;
    Output stderr_mode = Output::capture;
    int stdout_fd = -1; // when >= 0, the child's stdout is this descriptor (stdout_mode ignored)
    int stderr_fd = -1; // when >= 0, the child's stderr is this descriptor (stderr_mode ignored)
    bool new_process_group = true;
    // Once the child has exited, SIGKILL whatever is left of its process group (only with
    // new_process_group), so nothing it started in the background outlives it.
    bool kill_group_after_exit = true;
    std::optional<std::chrono::milliseconds> timeout; // run(): TERM the group when it expires
    std::chrono::milliseconds kill_grace{2000};       // then KILL after this long
};

// How a process ended.
struct ProcessResult {
    int wait_status = 0;
    bool timed_out = false;
    std::string out;
    std::string err;

    bool exited() const;
    // The exit code, or -1 when killed by a signal.
    int exit_code() const;
    // The signal that killed it, or 0.
    int signal() const;
    bool success() const { return exited() && exit_code() == 0; }
    // "exited with status 3", "killed by signal 9 (Killed)", "timed out after 5s ...".
    std::string describe() const;
};

// The path of an executable: name itself when it holds a '/', else the first match in the
// colon-separated search path.
Expected<std::string> find_executable(const std::string& name, const std::string& search_path);

// A started child process. Destroying a Child that has not been waited for kills it (its whole
// group when it has one) and reaps it, so no child outlives its owner by accident.
class Child {
public:
    // Output::capture gives pipes readable through out() and err().
    static Expected<Child> spawn(const SpawnOptions& options);

    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    Child(Child&& other) noexcept;
    Child& operator=(Child&& other) noexcept;
    ~Child();

    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0 && !m_reaped; }
    // Read ends of captured stdout/stderr (invalid when not captured).
    Fd& out() { return m_out; }
    Fd& err() { return m_err; }
    Fd& in() { return m_in; }
    // Readable once the child has exited (a pidfd); invalid where the kernel has no pidfd.
    const Fd& exit_fd() const { return m_pidfd; }

    // Waits up to timeout for the child to exit; nullopt if it is still running. Reaps it.
    Expected<std::optional<int>> wait_for(std::chrono::milliseconds timeout);
    // Waits until it exits; returns the wait status.
    Expected<int> wait();
    // Sends sig to the child's process group (or the child alone without a group).
    void signal(int sig) const;
    // SIGTERM (and SIGCONT), then SIGKILL after grace; reaps. Returns the wait status.
    Expected<int> terminate(std::chrono::milliseconds grace);

private:
    Child() = default;
    void reap_exited(int status);

    pid_t m_pid = -1;
    bool m_group = false;
    bool m_kill_group_after_exit = false;
    bool m_reaped = false;
    int m_status = 0;
    Fd m_pidfd;
    Fd m_in;
    Fd m_out;
    Fd m_err;
};

// Runs a program to completion: feeds stdin_data, captures what is asked, enforces the timeout.
// The error case is "could not start it"; a non-zero exit is a ProcessResult.
Expected<ProcessResult> run(const SpawnOptions& options);

} // namespace backup::util
