#include "support/fixtures.hpp"
#include "support/repository_files.hpp"
#include "util/socket.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <map>
#include <thread>

#include "model/repository.hpp"
#include "util/bcrypt.hpp"
#include "util/json.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"

namespace backup::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string tools_dir() {
    return BACKUP_TOOLS_DIR;
}

std::string wrapper_binary() {
    return tools_dir() + "/restic-wrapper";
}

std::size_t occurrences(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

std::string require_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    auto found = util::find_executable(name, path != nullptr ? path : "");
    if (!found) {
        FAIL(fmt::format("{} is not on PATH; run 'make deps' (the Makefile puts the pinned Go "
                         "programs on PATH for the tests)",
                         name));
    }
    return *found;
}

int free_port() {
    auto port = util::pick_free_port("127.0.0.1");
    REQUIRE(port);
    return *port;
}

namespace {

bool port_accepts(int port) {
    return util::accepts_connections("127.0.0.1", port);
}

} // namespace

void wait_for_port(int port, std::chrono::milliseconds timeout, const std::string& what,
                   const std::string& address) {
    auto deadline = Clock::now() + timeout;
    while (!util::accepts_connections(address, port)) {
        if (Clock::now() > deadline) {
            FAIL(fmt::format("{} did not listen on {}:{} within {} ms", what, address, port,
                             timeout.count()));
        }
        std::this_thread::sleep_for(20ms);
    }
}

Environment base_environment() {
    Environment env;
    const char* path = std::getenv("PATH");
    env["PATH"] = path != nullptr ? path : "/usr/bin:/bin";
    const char* home = std::getenv("HOME");
    env["HOME"] = home != nullptr ? home : "/root";
    const char* tmp = std::getenv("TMPDIR");
    env["TMPDIR"] = tmp != nullptr ? tmp : "/tmp";
    return env;
}

ProcessResult run_ok(const util::SpawnOptions& options) {
    auto r = util::run(options);
    if (!r) {
        FAIL(
            fmt::format("could not run {}: {}", fmt::join(options.argv, " "), r.error().message()));
    }
    if (!r->success()) {
        FAIL(fmt::format("{} {}\nstdout:\n{}\nstderr:\n{}", fmt::join(options.argv, " "),
                         r->describe(), r->out, r->err));
    }
    return *r;
}

ProcessResult run_cmd(std::vector<std::string> argv, const Environment& env,
                      std::optional<std::string> stdin_data) {
    util::SpawnOptions o;
    o.argv = std::move(argv);
    o.env = env;
    o.stdin_data = std::move(stdin_data);
    o.timeout = 300s;
    auto r = util::run(o);
    if (!r) {
        FAIL(fmt::format("could not run {}: {}", fmt::join(o.argv, " "), r.error().message()));
    }
    return *r;
}

std::vector<pid_t> processes_using(const fs::path& dir) {
    std::vector<pid_t> found;
    std::string needle = dir.string();
    pid_t self = ::getpid();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        pid_t pid = std::stoi(name);
        if (pid == self) {
            continue;
        }
        std::error_code e2;
        auto cwd = fs::read_symlink(entry.path() / "cwd", e2).string();
        bool uses = !e2 && (cwd == needle || cwd.starts_with(needle + "/"));
        if (!uses) {
            auto cmdline = util::read_file((entry.path() / "cmdline").string());
            uses = cmdline && cmdline->find(needle) != std::string::npos;
        }
        if (uses) {
            found.push_back(pid);
        }
    }
    return found;
}

void require_no_processes(const fs::path& dir, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::vector<pid_t> left;
    while (!(left = processes_using(dir)).empty() && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    std::string described;
    for (pid_t pid : left) {
        auto cmdline = util::read_file(fmt::format("/proc/{}/cmdline", pid));
        std::string text = cmdline ? *cmdline : "?";
        std::replace(text.begin(), text.end(), '\0', ' ');
        described += fmt::format("\n  pid {}: {}", pid, text);
        ::kill(pid, SIGKILL); // do not let it disturb the next test
    }
    INFO("processes left behind under " << dir.string() << ":" << described);
    CHECK(left.empty());
}

bool wait_for_pid_exit(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        auto stat = util::read_file(fmt::format("/proc/{}/stat", pid));
        if (!stat) {
            return true;
        }
        // Field 3 is the state; Z is a zombie: dead, only not yet reaped.
        auto close = stat->rfind(')');
        if (close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z') {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

void write_file(const fs::path& path, const std::string& content, unsigned mode) {
    fs::create_directories(path.parent_path());
    REQUIRE(util::atomic_write(path.string(), content, mode));
}

void age_snapshots(const fs::path& repository, std::int64_t seconds) {
    for (const auto& e : fs::directory_iterator(repository / "snapshots")) {
        timespec times[2];
        times[0].tv_sec = times[1].tv_sec = std::time(nullptr) - seconds;
        times[0].tv_nsec = times[1].tv_nsec = 0;
        REQUIRE(::utimensat(AT_FDCWD, e.path().c_str(), times, 0) == 0);
    }
}

// --- ServerProcess ---------------------------------------------------------------------------

namespace {

util::Fd open_log(const fs::path& path) {
    auto fd = util::open_fd(path.string(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    REQUIRE(fd);
    return std::move(*fd);
}

util::Child spawn_or_fail(const util::SpawnOptions& options) {
    auto child = util::Child::spawn(options);
    if (!child) {
        FAIL(fmt::format("could not start {}: {}", options.argv.at(0), child.error().message()));
    }
    return std::move(*child);
}

util::SpawnOptions with_log(util::SpawnOptions options, int fd) {
    options.stdout_fd = fd;
    options.stderr_fd = fd;
    options.kill_grace = 5s; // TERM, then KILL: see stop()
    return options;
}

} // namespace

ServerProcess::ServerProcess(util::SpawnOptions options, const fs::path& log_path)
    : m_log_path(log_path), m_log(open_log(log_path)),
      m_child(spawn_or_fail(with_log(std::move(options), m_log.get()))) {}

ServerProcess::~ServerProcess() {
    stop();
}

void ServerProcess::stop() {
    if (m_child.running()) {
        (void)m_child.terminate();
    }
}

std::string ServerProcess::log() const {
    auto text = util::read_file(m_log_path.string());
    return text ? *text : std::string();
}

// --- VersitygwServer -------------------------------------------------------------------------

VersitygwServer::VersitygwServer(const fs::path& work_dir, std::vector<std::string> extra_args)
    : m_work_dir(work_dir), m_data_dir(work_dir / "versitygw-data"),
      m_extra_args(std::move(extra_args)) {
    fs::create_directories(m_data_dir);
    m_access_key = *util::random_token(20, util::k_upper_alphanumeric);
    m_secret_key = *util::random_token(40);
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = free_port();
        if (launch()) {
            return;
        }
    }
    FAIL("versitygw did not start; see the versitygw-*.log files in the test's directory");
}

bool VersitygwServer::launch() {
    util::SpawnOptions o;
    o.env = base_environment();
    // Root credentials by environment, never on the command line.
    o.env["ROOT_ACCESS_KEY_ID"] = m_access_key;
    o.env["ROOT_SECRET_ACCESS_KEY"] = m_secret_key;
    o.argv = {require_program("versitygw"), "--port", fmt::format("127.0.0.1:{}", m_port)};
    o.argv.insert(o.argv.end(), m_extra_args.begin(), m_extra_args.end());
    o.argv.push_back("posix");
    o.argv.push_back(m_data_dir.string());
    m_process.emplace(o, m_work_dir / fmt::format("versitygw-{}.log", m_port));
    auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline && !port_accepts(m_port)) {
        std::this_thread::sleep_for(20ms);
    }
    if (port_accepts(m_port)) {
        return true;
    }
    m_process.reset(); // lost the port race or failed
    return false;
}

void VersitygwServer::stop() {
    m_process.reset();
}

void VersitygwServer::start() {
    if (!launch()) {
        FAIL("versitygw did not start again on port " << m_port << "; see its log");
    }
}

std::string VersitygwServer::log() const {
    auto text = util::read_file((m_work_dir / fmt::format("versitygw-{}.log", m_port)).string());
    return text ? *text : std::string();
}

std::string VersitygwServer::endpoint() const {
    return fmt::format("http://127.0.0.1:{}", m_port);
}

void VersitygwServer::add_rclone_remote(Environment& env, const std::string& name) const {
    std::string prefix = "RCLONE_CONFIG_" + name + "_";
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), ::toupper);
    env[prefix + "TYPE"] = "s3";
    env[prefix + "PROVIDER"] = "Other";
    env[prefix + "ENDPOINT"] = endpoint();
    env[prefix + "ACCESS_KEY_ID"] = m_access_key;
    env[prefix + "SECRET_ACCESS_KEY"] = m_secret_key;
}

// --- RestServer ------------------------------------------------------------------------------

RestServer::RestServer(const fs::path& work_dir, std::vector<User> users, bool private_repos,
                       bool append_only)
    : m_data_dir(work_dir / "rest-server-data") {
    fs::create_directories(m_data_dir);
    fs::path htpasswd = work_dir / "rest-server.htpasswd";
    std::string lines;
    for (const auto& user : users) {
        auto hash = util::bcrypt_hash(user.password, 5);
        REQUIRE(hash);
        lines += fmt::format("{}:{}\n", user.name, *hash);
    }
    REQUIRE(util::atomic_write(htpasswd.string(), lines, 0600));
    util::SpawnOptions o;
    o.env = base_environment();
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = free_port();
        o.argv = {require_program("rest-server"),
                  "--listen",
                  fmt::format("127.0.0.1:{}", m_port),
                  "--path",
                  m_data_dir.string(),
                  "--htpasswd-file",
                  htpasswd.string()};
        if (private_repos) {
            o.argv.push_back("--private-repos");
        }
        if (append_only) {
            o.argv.push_back("--append-only");
        }
        m_process.emplace(o, work_dir / fmt::format("rest-server-{}.log", m_port));
        auto deadline = Clock::now() + 20s;
        while (Clock::now() < deadline && !port_accepts(m_port)) {
            std::this_thread::sleep_for(20ms);
        }
        if (port_accepts(m_port)) {
            return;
        }
        m_process.reset();
    }
    FAIL("rest-server did not start; see the rest-server-*.log files in the test's directory");
}

std::string RestServer::endpoint() const {
    return fmt::format("http://127.0.0.1:{}", m_port);
}

// --- RunsvdirTree ----------------------------------------------------------------------------

RunsvdirTree::RunsvdirTree(const fs::path& root) : RunsvdirTree(root, root / "service") {}

RunsvdirTree::RunsvdirTree(const fs::path& root, const fs::path& scan_dir)
    : m_root(root), m_scan_dir(scan_dir), m_sv_dir(root / "sv") {
    fs::create_directories(m_scan_dir);
    fs::create_directories(m_sv_dir);
    util::SpawnOptions o;
    o.argv = {require_program("runsvdir"), "-P", m_scan_dir.string()};
    o.env = base_environment();
    o.stdout_mode = util::Output::null;
    o.stderr_mode = util::Output::null;
    m_runsvdir.emplace(spawn_or_fail(o));
}

RunsvdirTree::~RunsvdirTree() {
    stop();
}

fs::path RunsvdirTree::add_service(const std::string& name, const std::string& run_script,
                                   bool do_link) {
    fs::path dir = m_sv_dir / name;
    fs::create_directories(dir);
    REQUIRE(util::atomic_write((dir / "run").string(), run_script, 0755));
    if (do_link) {
        link(name);
    }
    return dir;
}

void RunsvdirTree::link(const std::string& name) {
    fs::create_symlink(m_sv_dir / name, m_scan_dir / name);
}

void RunsvdirTree::unlink(const std::string& name) {
    fs::remove(m_scan_dir / name);
}

std::string RunsvdirTree::status(const std::string& name) const {
    auto r = run_cmd({require_program("sv"), "status", (m_scan_dir / name).string()},
                     base_environment());
    return r.out + r.err;
}

pid_t RunsvdirTree::wait_until_up(const std::string& name,
                                  std::chrono::milliseconds timeout) const {
    auto deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
        last = status(name);
        if (last.starts_with("run: ")) {
            auto pid_at = last.find("(pid ");
            REQUIRE(pid_at != std::string::npos);
            return std::stoi(last.substr(pid_at + 5));
        }
        std::this_thread::sleep_for(100ms);
    }
    FAIL(fmt::format("service {} not up within {} ms; last sv status: {}", name, timeout.count(),
                     last));
    return -1;
}

void RunsvdirTree::stop() {
    if (!m_runsvdir || !m_runsvdir->running()) {
        return;
    }
    m_runsvdir->signal(SIGHUP);
    (void)m_runsvdir->wait_for(5s);
    m_runsvdir.reset();
    // The runsv processes got TERM from runsvdir and stop their services; give them time, then
    // kill whatever is left so no test leaks processes into the next.
    auto deadline = Clock::now() + 10s;
    while (!processes_using(m_root).empty() && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    for (pid_t pid : processes_using(m_root)) {
        ::kill(pid, SIGKILL);
    }
}

// --- restic ----------------------------------------------------------------------------------

ProcessResult ResticClient::try_run(std::vector<std::string> args) const {
    args.insert(args.begin(), require_program("restic"));
    args.insert(args.begin(), prefix.begin(), prefix.end());
    return run_cmd(std::move(args), env);
}

ProcessResult ResticClient::run(std::vector<std::string> args) const {
    auto r = try_run(args);
    if (!r.success()) {
        FAIL(fmt::format("restic {} {}\nstdout:\n{}\nstderr:\n{}", fmt::join(args, " "),
                         r.describe(), r.out, r.err));
    }
    return r;
}

std::size_t snapshot_count(const ResticClient& client) {
    return util::Json::parse(client.run({"snapshots", "--json"}).out).size();
}

ResticClient make_restic_client(const fs::path& dir, const std::string& repository) {
    fs::create_directories(dir);
    fs::path password_file = dir / "repo-password";
    // The same directory means the same client: keep its repository password.
    if (!fs::exists(password_file)) {
        REQUIRE(util::atomic_write(password_file.string(), *util::random_token(32) + "\n", 0600));
    }
    ResticClient client;
    client.env = base_environment();
    client.env["RESTIC_REPOSITORY"] = repository;
    client.env["RESTIC_PASSWORD_FILE"] = password_file.string();
    client.env["RESTIC_CACHE_DIR"] = (dir / "cache").string();
    client.env["RESTIC_PROGRESS_FPS"] = "0.1";
    return client;
}

// --- trees -----------------------------------------------------------------------------------

void make_sample_tree(const fs::path& root) {
    fs::create_directories(root / "a/b/c");
    fs::create_directories(root / "empty dir");
    fs::create_directories(root / "with space");
    REQUIRE(util::atomic_write((root / "a/one.txt").string(), "one\n", 0644));
    REQUIRE(util::atomic_write((root / "a/b/c/deep").string(), "deep\n", 0640));
    REQUIRE(util::atomic_write((root / "with space/file name.txt").string(), "spaced\n", 0600));
    auto big = util::random_bytes(3 * 1024 * 1024 + 123);
    REQUIRE(big);
    REQUIRE(util::atomic_write((root / "a/big.bin").string(), *big, 0644));
    fs::create_symlink("a/b", root / "link-to-b");
}

namespace {

struct Entry {
    fs::file_type type;
    fs::perms perms;
    std::string content; // file content or symlink target
};

std::map<std::string, Entry> snapshot_tree(const fs::path& root) {
    std::map<std::string, Entry> out;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        auto st = it->symlink_status();
        Entry e{st.type(), st.permissions(), {}};
        if (st.type() == fs::file_type::regular) {
            e.content = *util::read_file(it->path().string());
        } else if (st.type() == fs::file_type::symlink) {
            e.content = fs::read_symlink(it->path()).string();
            e.perms = fs::perms::none;
        }
        out.emplace(it->path().lexically_relative(root).string(), std::move(e));
    }
    return out;
}

} // namespace

std::vector<std::string> compare_trees(const fs::path& a, const fs::path& b) {
    auto left = snapshot_tree(a);
    auto right = snapshot_tree(b);
    std::vector<std::string> diffs;
    for (const auto& [path, e] : left) {
        auto it = right.find(path);
        if (it == right.end()) {
            diffs.push_back("only in " + a.string() + ": " + path);
        } else if (it->second.type != e.type) {
            diffs.push_back("type differs: " + path);
        } else if (it->second.content != e.content) {
            diffs.push_back("content differs: " + path);
        } else if (it->second.perms != e.perms) {
            diffs.push_back("permissions differ: " + path);
        }
    }
    for (const auto& [path, e] : right) {
        if (!left.contains(path)) {
            diffs.push_back("only in " + b.string() + ": " + path);
        }
    }
    return diffs;
}

std::vector<std::string> verify_repository_files(const fs::path& repo, int* files) {
    std::vector<std::string> problems;
    auto listed = test::list_repository_files(repo.string());
    if (!listed) {
        return {listed.error().message()};
    }
    int count = 0;
    for (const auto& f : *listed) {
        if (f.kind == core::RepoFileKind::config) {
            ++count;
            continue;
        }
        if (!core::is_content_addressed(f.kind)) {
            problems.push_back(fmt::format("not a repository file: {}", f.relative));
            continue;
        }
        ++count;
        auto hash = util::sha256_file((repo / f.relative).string());
        std::string name = fs::path(f.relative).filename().string();
        if (!hash || hash->hex != name) {
            problems.push_back(fmt::format("content does not hash to its name: {}", f.relative));
        }
    }
    if (files != nullptr) {
        *files = count;
    }
    return problems;
}

} // namespace backup::test
