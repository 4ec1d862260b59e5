// Fixtures for end-to-end tests: real storage servers and runit trees on loopback, in a temp
// dir, on free ports, always stopped when the fixture goes out of scope (also when a test fails).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "util/fs.hpp"
#include "util/process.hpp"

namespace backup::test {

namespace fs = std::filesystem;
using util::Environment;
using util::ProcessResult;

// The directory holding the toolkit's built executables.
std::string tools_dir();
// The built restic-wrapper.
std::string wrapper_binary();
// How often what occurs in text (overlapping occurrences counted).
std::size_t occurrences(const std::string& text, std::string_view what);
// The path of a program on PATH; fails the test (pointing at 'make deps') when it is missing.
std::string require_program(const std::string& name);

// A port on 127.0.0.1 nothing listens on right now.
int free_port();
// Waits until something accepts connections on address:port; fails the test on timeout.
void wait_for_port(int port, std::chrono::milliseconds timeout, const std::string& what,
                   const std::string& address = "127.0.0.1");

// A minimal environment for a child: PATH (with the deps bin dir), HOME and TMPDIR.
Environment base_environment();

// Runs a command and fails the test (showing its output) unless it exits 0.
ProcessResult run_ok(const util::SpawnOptions& options);
ProcessResult run_cmd(std::vector<std::string> argv, const Environment& env,
                      std::optional<std::string> stdin_data = std::nullopt);

// Every process (not this one) whose working directory is under dir or whose command line
// mentions dir: what a test left running.
std::vector<pid_t> processes_using(const fs::path& dir);
// Fails the test if processes_using(dir) stays non-empty for timeout, naming them.
void require_no_processes(const fs::path& dir,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));
// Waits until pid is gone (or a zombie); false on timeout.
bool wait_for_pid_exit(pid_t pid, std::chrono::milliseconds timeout);
// Polls condition every 50 ms until it holds (true) or timeout has passed (false).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Writes content to path with mode (atomically, creating the parents); fails the test on error.
void write_file(const fs::path& path, const std::string& content, unsigned mode = 0644);
// Sets the modification time of every file in repository/snapshots to `seconds` ago, as if the
// snapshots were that old.
void age_snapshots(const fs::path& repository, std::int64_t seconds);

// A long-running server process whose output goes to a log file, stopped with TERM then KILL.
class ServerProcess {
public:
    ServerProcess(util::SpawnOptions options, const fs::path& log_path);
    ServerProcess(ServerProcess&&) noexcept = default;
    ~ServerProcess();
    pid_t pid() const { return m_child.pid(); }
    std::string log() const;
    void stop();

private:
    fs::path m_log_path;
    util::Fd m_log;
    util::Child m_child;
};

// versitygw serving a POSIX directory as S3, with generated root credentials passed by
// environment; extra_args go before its "posix" command (e.g. --event-webhook-url URL).
class VersitygwServer {
public:
    explicit VersitygwServer(const fs::path& work_dir, std::vector<std::string> extra_args = {});
    int port() const { return m_port; }
    std::string endpoint() const; // http://127.0.0.1:PORT
    const fs::path& data_dir() const { return m_data_dir; }
    const std::string& access_key() const { return m_access_key; }
    const std::string& secret_key() const { return m_secret_key; }
    // rclone reaches it as the remote NAME: (RCLONE_CONFIG_<NAME>_*, the root keys, by
    // environment only).
    void add_rclone_remote(Environment& env, const std::string& name) const;
    pid_t pid() const { return m_process->pid(); }
    // Its log: one line per request ("| GET | /bucket | - | delimiter=...").
    std::string log() const;
    // Stops it (TERM, waited for); start() brings it back on the same port, data and keys.
    void stop();
    void start();

private:
    bool launch(); // false: it did not come up on m_port
    fs::path m_work_dir;
    fs::path m_data_dir;
    std::vector<std::string> m_extra_args;
    int m_port = 0;
    std::string m_access_key;
    std::string m_secret_key;
    std::optional<ServerProcess> m_process;
};

// rest-server with an htpasswd file of the given users (bcrypt), optionally --private-repos and
// --append-only.
class RestServer {
public:
    struct User {
        std::string name;
        std::string password;
    };
    RestServer(const fs::path& work_dir, std::vector<User> users, bool private_repos = true,
               bool append_only = false);
    int port() const { return m_port; }
    std::string endpoint() const; // http://127.0.0.1:PORT
    const fs::path& data_dir() const { return m_data_dir; }
    pid_t pid() const { return m_process->pid(); }

private:
    fs::path m_data_dir;
    int m_port = 0;
    std::optional<ServerProcess> m_process;
};

// A runsvdir scanning root/service, with service directories under root/sv.
class RunsvdirTree {
public:
    explicit RunsvdirTree(const fs::path& root);
    // A runsvdir scanning scan_dir; every process under root counts as part of the tree.
    RunsvdirTree(const fs::path& root, const fs::path& scan_dir);
    ~RunsvdirTree();
    const fs::path& scan_dir() const { return m_scan_dir; }
    // Creates sv/NAME/run (mode 0755) with the given script; link makes it start.
    fs::path add_service(const std::string& name, const std::string& run_script, bool link = true);
    void link(const std::string& name);
    void unlink(const std::string& name);
    // `sv status` of the linked service.
    std::string status(const std::string& name) const;
    // Waits until `sv status` says run; returns the service's pid.
    pid_t wait_until_up(const std::string& name, std::chrono::milliseconds timeout) const;
    pid_t runsvdir_pid() const { return m_runsvdir->pid(); }
    // HUP to runsvdir (which TERMs every runsv), then waits until no process of the tree is
    // left, killing stragglers.
    void stop();

private:
    fs::path m_root;
    fs::path m_scan_dir;
    fs::path m_sv_dir;
    std::optional<util::Child> m_runsvdir;
};

// A restic repository as a client sees it: the environment restic runs with.
struct ResticClient {
    Environment env;
    // Runs restic under this command (e.g. "ip netns exec NS": a client on a host of its own).
    std::vector<std::string> prefix;
    ProcessResult run(std::vector<std::string> args) const; // must succeed
    ProcessResult try_run(std::vector<std::string> args) const;
};
// A restic client with a password file and cache under dir (the password file is made once
// and kept, so two clients made for the same dir share the repository password).
ResticClient make_restic_client(const fs::path& dir, const std::string& repository);
// How many snapshots `restic snapshots --json` lists.
std::size_t snapshot_count(const ResticClient& client);

// A small tree with the shapes backups meet: nested dirs, an empty dir, spaces, a symlink,
// a multi-megabyte random file.
void make_sample_tree(const fs::path& root);
// Differences between two trees (type, content, symlink target, permission bits), one line
// each; empty when identical.
std::vector<std::string> compare_trees(const fs::path& a, const fs::path& b);

// Checks every repository file under repo: config or content-addressed with SHA-256 == name.
// Returns the problems, one line each; files counts the repository files seen.
std::vector<std::string> verify_repository_files(const fs::path& repo, int* files = nullptr);

} // namespace backup::test
