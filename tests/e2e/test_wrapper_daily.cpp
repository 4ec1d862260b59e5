// restic-wrapper --daily against a real versitygw with real restic: the snapshot holds exactly
// the include set, one run at a time, failures are recorded without moving last_success, and
// retention and the check rotation touch only what they should.
#include "support/fixtures.hpp"
#include "util/json.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <fmt/ranges.h>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

using PathSet = std::set<std::string>;

// A client host: its /etc/restic files, the tree it backs up and its state dir, all under dir,
// and restic itself as the oracle on the same repository.
struct Client {
    fs::path dir;
    fs::path tree;
    fs::path state;
    fs::path environ_file;
    fs::path config;
    std::string repository;
    std::string access_key;
    std::string secret_key;
    ResticClient oracle;

    // The environ file the server would hand out (0600), with a cache dir inside the test dir.
    void write_environ(const std::string& repo, const std::string& password_file) const {
        write_file(environ_file,
                   fmt::format("# restic environment for e2e-web1\n"
                               "export RESTIC_REPOSITORY={}\n"
                               "export AWS_ACCESS_KEY_ID={}\n"
                               "export AWS_SECRET_ACCESS_KEY='{}'\n"
                               "export RESTIC_PASSWORD_FILE={}\n"
                               "export RESTIC_CACHE_DIR={}\n",
                               repo, access_key, secret_key, password_file,
                               (dir / "cache").string()),
                   0600);
    }
    std::string password_file() const { return oracle.env.at("RESTIC_PASSWORD_FILE"); }
    void write_config(const std::string& extra = {}) const {
        write_file(config, fmt::format("include_file: {}\n"
                                       "exclude_file: {}\n"
                                       "root: {}\n"
                                       "host: e2e-web1\n"
                                       "state_dir: {}\n"
                                       "{}",
                                       (dir / "etc/include-files").string(),
                                       (dir / "etc/exclude-files").string(), tree.string(),
                                       state.string(), extra));
    }
    std::vector<std::string> daily_argv() const {
        return {wrapper_binary(),   "--wrapper-environ", environ_file.string(),
                "--wrapper-config", config.string(),     "--daily"};
    }
    ProcessResult daily() const { return run_cmd(daily_argv(), base_environment()); }
    util::Json status() const {
        auto json = util::read_json_file((state / "status.json").string());
        REQUIRE(json);
        return *json;
    }
    util::Json snapshots() const {
        return util::Json::parse(oracle.run({"snapshots", "--json"}).out);
    }
};

Client make_client(const fs::path& dir, const VersitygwServer& server) {
    Client c;
    c.dir = dir;
    c.tree = dir / "tree";
    c.state = dir / "state";
    c.environ_file = dir / "etc/environ";
    c.config = dir / "etc/restic-wrapper.yaml";
    c.repository = "s3:" + server.endpoint() + "/web1";
    c.access_key = server.access_key();
    c.secret_key = server.secret_key();
    c.oracle = make_restic_client(dir / "client", c.repository);
    c.oracle.env["AWS_ACCESS_KEY_ID"] = server.access_key();
    c.oracle.env["AWS_SECRET_ACCESS_KEY"] = server.secret_key();
    c.write_environ(c.repository, c.password_file());
    // What the admin wants: /etc, one home and one database directory, without *.tmp files.
    write_file(dir / "etc/include-files", "# what to back up\n/etc\n/home/u\n/var/lib/db\n");
    write_file(dir / "etc/exclude-files", "*.tmp\n");
    write_file(c.tree / "etc/hosts.conf", "127.0.0.1 localhost\n");
    write_file(c.tree / "etc/skip.tmp", "scratch\n");
    write_file(c.tree / "etc/sub/deep file", "deep\n");
    write_file(c.tree / "etc/sub/also.tmp", "scratch\n");
    make_sample_tree(c.tree / "home/u");
    write_file(c.tree / "home/other/secret", "not asked for\n");
    write_file(c.tree / "var/log/syslog", "not asked for\n");
    write_file(c.tree / "var/lib/db/data", "rows\n");
    write_file(c.tree / "var/lib/other/state", "not asked for\n");
    write_file(c.tree / "opt/tool/bin", "not asked for\n");
    c.write_config();
    return c;
}

// What the snapshot must hold: the directories down to the tree, the tree, the directories on
// the way to each include, and everything at and below each include, without *.tmp.
PathSet expected_paths(const fs::path& tree, const std::vector<std::string>& includes) {
    PathSet out;
    for (fs::path p = tree; p != p.root_path(); p = p.parent_path()) {
        out.insert(p.string());
    }
    for (const auto& include : includes) {
        fs::path base = tree / include.substr(1);
        for (fs::path p = base.parent_path(); p != tree; p = p.parent_path()) {
            out.insert(p.string());
        }
        out.insert(base.string());
        if (fs::is_directory(fs::symlink_status(base))) {
            for (const auto& entry : fs::recursive_directory_iterator(base)) {
                out.insert(entry.path().string());
            }
        }
    }
    std::erase_if(out, [](const std::string& p) { return p.ends_with(".tmp"); });
    return out;
}

PathSet snapshot_paths(const ResticClient& oracle, const std::string& snapshot) {
    PathSet out;
    std::string text = oracle.run({"ls", "--json", snapshot}).out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        std::string line = text.substr(pos, end == std::string::npos ? text.npos : end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        if (line.empty()) {
            continue;
        }
        auto node = util::Json::parse(line);
        if (node.value("struct_type", "") == "node") {
            out.insert(node.at("path").get<std::string>());
        }
    }
    return out;
}

std::string show_difference(const PathSet& expected, const PathSet& actual) {
    std::vector<std::string> lines;
    for (const auto& p : expected) {
        if (!actual.contains(p)) {
            lines.push_back("missing: " + p);
        }
    }
    for (const auto& p : actual) {
        if (!expected.contains(p)) {
            lines.push_back("unexpected: " + p);
        }
    }
    return fmt::format("{}", fmt::join(lines, "\n"));
}

// Every repository file (relative path) under dir, to show that nothing was written.
std::set<std::string> files_under(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        out.insert(entry.path().lexically_relative(dir).string());
    }
    return out;
}

void wait_for_file(const fs::path& path, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!fs::exists(path)) {
        if (std::chrono::steady_clock::now() > deadline) {
            FAIL("timed out waiting for " << path.string());
        }
        std::this_thread::sleep_for(20ms);
    }
}

std::string exclude_file_of_last_run(const Client& c) {
    auto log = util::read_file((c.state / "last-run.log").string());
    REQUIRE(log);
    auto at = log->find("--exclude-file ");
    REQUIRE(at != std::string::npos);
    at += std::string("--exclude-file ").size();
    return log->substr(at, log->find(' ', at) - at);
}

} // namespace

TEST_CASE("restic-wrapper --daily backs up exactly the include set, tagged, and says nothing",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        c.write_config(fmt::format("prometheus_textfile: {}\n",
                                   (dir->path() / "metrics/restic.prom").string()));
        fs::create_directories(dir->path() / "metrics");
        c.oracle.run({"init"});

        auto r = c.daily();
        INFO(r.describe() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err);
        CHECK(r.exit_code() == 0);
        CHECK(r.out.empty());
        CHECK(r.err.empty());

        auto snapshots = c.snapshots();
        REQUIRE(snapshots.size() == 1);
        CHECK(snapshots[0]["tags"] == util::Json::array({"daily"}));
        CHECK(snapshots[0]["hostname"] == "e2e-web1");
        CHECK(snapshots[0]["paths"] == util::Json::array({c.tree.string()}));
        std::string id = snapshots[0]["id"];

        auto expected = expected_paths(c.tree, {"/etc", "/home/u", "/var/lib/db"});
        auto actual = snapshot_paths(c.oracle, id);
        INFO(show_difference(expected, actual));
        CHECK(expected == actual);
        CHECK(actual.contains((c.tree / "home/u/with space/file name.txt").string()));
        CHECK_FALSE(actual.contains((c.tree / "var/log").string()));

        auto status = c.status();
        CHECK(status["schema"] == 1);
        CHECK(status["host"] == "e2e-web1");
        CHECK(status["repository"] == c.repository);
        const auto& last = status["last_attempt"];
        CHECK(last["result"] == "ok");
        CHECK(last["exit_code"] == 0);
        CHECK(last["snapshot_id"] == id);
        CHECK(last["summary"]["files_new"].get<int>() >= 6);
        CHECK(last["summary"]["data_added"].get<std::int64_t>() > 3 * 1024 * 1024);
        CHECK(last["unreadable"].empty());
        CHECK(last["errors"].empty());
        CHECK(status["last_success"] == last);

        auto prom = util::read_file((dir->path() / "metrics/restic.prom").string());
        REQUIRE(prom);
        CHECK(prom->find("restic_wrapper_last_exit_code{host=\"e2e-web1\"} 0\n") !=
              std::string::npos);
        CHECK(prom->find("restic_wrapper_last_success_timestamp_seconds{host=\"e2e-web1\"} ") !=
              std::string::npos);

        // The exclude file was private and is gone.
        CHECK_FALSE(fs::exists(exclude_file_of_last_run(c)));
        CHECK((fs::status(c.state).permissions() & fs::perms::all) == fs::perms::owner_all);

        // A second run adds a second snapshot and moves last_success on.
        std::this_thread::sleep_for(1100ms);
        auto again = c.daily();
        INFO(again.err);
        CHECK(again.exit_code() == 0);
        CHECK(c.snapshots().size() == 2);
        auto status2 = c.status();
        CHECK(status2["last_success"]["snapshot_id"] != id);
        CHECK(status2["last_success"]["finished"].get<std::string>() >
              status["last_success"]["finished"].get<std::string>());
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper --daily: a second run is refused while the first completes",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        // The first run waits in its before hook, holding the lock, until the test says go.
        fs::path started = dir->path() / "started";
        fs::path go = dir->path() / "go";
        c.write_config(fmt::format("hooks:\n"
                                   "  before:\n"
                                   "    - command: [sh, -c, 'touch {}; while [ ! -e {} ]; do "
                                   "sleep 0.05; done']\n",
                                   started.string(), go.string()));
        c.oracle.run({"init"});

        auto out = util::open_fd((dir->path() / "first.out").string(), O_WRONLY | O_CREAT, 0600);
        auto err = util::open_fd((dir->path() / "first.err").string(), O_WRONLY | O_CREAT, 0600);
        REQUIRE(out);
        REQUIRE(err);
        util::SpawnOptions o;
        o.argv = c.daily_argv();
        o.env = base_environment();
        o.stdout_fd = out->get();
        o.stderr_fd = err->get();
        auto first = util::Child::spawn(o);
        REQUIRE(first);
        wait_for_file(started, 30s);

        auto repository_before = files_under(server.data_dir() / "web1");
        util::SpawnOptions second_run;
        second_run.argv = c.daily_argv();
        second_run.env = base_environment();
        second_run.timeout = 60s; // a second run that waited for the lock would hang here
        auto second_result = util::run(second_run);
        REQUIRE(second_result);
        const ProcessResult& second = *second_result;
        CHECK(second.exit_code() == 111);
        CHECK(second.out.empty());
        CHECK(second.err ==
              fmt::format("restic-wrapper: error: unable to start the daily job: another "
                          "'restic-wrapper --daily' is running (pid {}, it holds {})\n",
                          first->pid(), (c.state / "lock").string()));
        // The refused run touched neither the repository nor the status of the running one.
        CHECK(files_under(server.data_dir() / "web1") == repository_before);
        CHECK(c.status()["last_attempt"]["result"] == "running");

        write_file(go, "");
        auto status = first->wait();
        REQUIRE(status);
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 0);
        CHECK(util::read_file((dir->path() / "first.err").string()).value_or("?").empty());
        CHECK(c.snapshots().size() == 1);
        CHECK(c.status()["last_attempt"]["result"] == "ok");

        // The lock went with the first run: the next one runs.
        CHECK(c.daily().exit_code() == 0);
        CHECK(c.snapshots().size() == 2);
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper --daily: failures have the right exit code, are recorded, and leave "
          "last_success alone",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        fs::path hook_out = dir->path() / "on-failure.txt";
        c.write_config(fmt::format("timeout: 4s\n"
                                   "hooks:\n"
                                   "  on_failure:\n"
                                   "    - command: [sh, -c, 'echo \"$RESTIC_WRAPPER_EXIT_CODE "
                                   "$RESTIC_WRAPPER_RESULT\" > {}']\n",
                                   hook_out.string()));
        c.oracle.run({"init"});
        REQUIRE(c.daily().exit_code() == 0);
        auto success = c.status()["last_success"];
        REQUIRE(success.is_object());
        CHECK_FALSE(fs::exists(hook_out));

        int expected_code = 0;
        std::string expected_message;
        SECTION("wrong password") {
            write_file(dir->path() / "wrong-password", "not the password\n", 0600);
            c.write_environ(c.repository, (dir->path() / "wrong-password").string());
            expected_code = 100;
            expected_message = "wrong password or no key found (restic exit status 12)";
        }
        SECTION("no repository") {
            c.write_environ(c.repository + "/absent", c.password_file());
            expected_code = 100;
            expected_message = "create it with 'restic-wrapper init'";
        }
        SECTION("unreachable server") {
            c.write_environ(fmt::format("s3:http://127.0.0.1:{}/web1", free_port()),
                            c.password_file());
            expected_code = 111;
            expected_message = "did not finish within the configured timeout";
        }
        auto started = std::chrono::steady_clock::now();
        auto r = c.daily();
        INFO("stderr:\n" << r.err);
        CHECK(std::chrono::steady_clock::now() - started < 60s);
        CHECK(r.exit_code() == expected_code);
        CHECK(r.out.empty());
        // One line, in the toolkit's form.
        CHECK(r.err.starts_with("restic-wrapper: error: unable to "));
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(r.err.find(expected_message) != std::string::npos);

        auto status = c.status();
        const auto& last = status["last_attempt"];
        CHECK(last["result"] == "failed");
        CHECK(last["exit_code"] == expected_code);
        CHECK(last["snapshot_id"].is_null());
        REQUIRE(last["errors"].size() == 1);
        CHECK(last["errors"][0].get<std::string>().find(expected_message) != std::string::npos);
        CHECK(status["last_success"] == success);
        CHECK(util::read_file(hook_out.string()).value_or("") ==
              fmt::format("{} failed\n", expected_code));
        CHECK(c.snapshots().size() == 1);
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper --daily: forget keeps other hosts and tags, check rotates, nice and "
          "ionice apply",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        fs::path priority = dir->path() / "priority.txt";
        c.write_config(fmt::format("retention:\n"
                                   "  keep_last: 2\n"
                                   "  prune: true\n"
                                   "check:\n"
                                   "  read_data_subsets: 2\n"
                                   "nice: 7\n"
                                   "ionice: {{class: idle}}\n"
                                   "hooks:\n"
                                   "  before:\n"
                                   "    - command: [sh, -c, 'nice > {}; ionice >> {}']\n",
                                   priority.string(), priority.string()));
        c.oracle.run({"init"});
        // Snapshots of the same host with another tag, and of another host with the same tag:
        // forget must leave both.
        c.oracle.run({"backup", "--host", "e2e-web1", "--tag", "manual", c.tree.string()});
        c.oracle.run({"backup", "--host", "other-host", "--tag", "daily", c.tree.string()});

        std::vector<std::string> subsets;
        for (int run = 0; run < 3; ++run) {
            auto r = c.daily();
            INFO(r.err);
            REQUIRE(r.exit_code() == 0);
            CHECK(r.err.empty());
            subsets.push_back(c.status()["last_attempt"]["check_subset"]);
        }
        CHECK(subsets == std::vector<std::string>{"1/2", "2/2", "1/2"});
        auto check_state = util::read_json_file((c.state / "check.json").string());
        REQUIRE(check_state);
        CHECK((*check_state)["next"] == 2);

        std::multiset<std::string> kinds;
        for (const auto& s : c.snapshots()) {
            kinds.insert(fmt::format("{} {}", s["hostname"].get<std::string>(), s["tags"].dump()));
        }
        CHECK(kinds == std::multiset<std::string>{"e2e-web1 [\"daily\"]", "e2e-web1 [\"daily\"]",
                                                  "e2e-web1 [\"manual\"]",
                                                  "other-host [\"daily\"]"});
        // The newest daily snapshot is the one the status names.
        auto latest = util::Json::parse(
            c.oracle.run({"snapshots", "--json", "--host", "e2e-web1", "--tag", "daily", "latest"})
                .out);
        REQUIRE(latest.size() == 1);
        CHECK(c.status()["last_attempt"]["snapshot_id"] == latest[0]["id"]);

        CHECK(util::read_file(priority.string()).value_or("") == "7\nidle\n");
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper --daily: unreadable files make an incomplete snapshot, exit 1",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        write_file(c.tree / "etc/locked", "cannot read me\n", 0000);
        c.oracle.run({"init"});
        // root reads everything: take away its power to ignore permissions.
        std::vector<std::string> argv = c.daily_argv();
        if (::getuid() == 0) {
            std::vector<std::string> prefix{require_program("setpriv"),
                                            "--inh-caps=-dac_override,-dac_read_search",
                                            "--bounding-set=-dac_override,-dac_read_search"};
            argv.insert(argv.begin(), prefix.begin(), prefix.end());
        }
        auto r = run_cmd(argv, base_environment());
        INFO("stderr:\n" << r.err);
        CHECK(r.exit_code() == 1);
        CHECK(r.out.empty());
        std::string locked = (c.tree / "etc/locked").string();
        CHECK(r.err.starts_with("restic-wrapper: warning: unable to back up 1 path(s), snapshot "));
        CHECK(r.err.find(locked) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);

        auto status = c.status();
        const auto& last = status["last_attempt"];
        CHECK(last["result"] == "findings");
        CHECK(last["exit_code"] == 1);
        REQUIRE(last["unreadable"].size() == 1);
        CHECK(last["unreadable"][0]["path"] == locked);
        CHECK(last["unreadable"][0]["message"].get<std::string>().find("permission denied") !=
              std::string::npos);
        CHECK(status["last_success"].is_null());
        auto snapshots = c.snapshots();
        REQUIRE(snapshots.size() == 1);
        CHECK(last["snapshot_id"] == snapshots[0]["id"]);
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper --daily: a run killed mid-way leaves nothing that blocks the next one",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto c = make_client(dir->path(), server);
        // When the test has armed it (the file "arm" names a file to wait for), the before hook
        // says it started and waits; else it returns at once.
        fs::path arm = dir->path() / "arm";
        fs::path started = dir->path() / "started";
        fs::path after = dir->path() / "after.txt";
        std::string hook = fmt::format("if [ -e {0} ]; then go=$(cat {0}); rm {0}; touch {1}; "
                                       "while [ ! -e \"$go\" ]; do sleep 0.05; done; fi",
                                       arm.string(), started.string());
        std::string config =
            fmt::format("retention:\n"
                        "  keep_last: 5\n"
                        "  prune: true\n"
                        "hooks:\n"
                        "  before:\n"
                        "    - command: [sh, -c, '{}']\n"
                        "  after:\n"
                        "    - command: [sh, -c, 'echo $RESTIC_WRAPPER_RESULT >> {}']\n",
                        hook, after.string());
        c.write_config(config);
        c.oracle.run({"init"});
        util::SpawnOptions o;
        o.argv = c.daily_argv();
        o.env = base_environment();
        o.stdout_mode = util::Output::null;
        o.stderr_mode = util::Output::capture;

        // KILL: the kernel drops the flock, and the next run goes ahead.
        write_file(arm, (dir->path() / "go-1").string());
        auto killed = util::Child::spawn(o);
        REQUIRE(killed);
        wait_for_file(started, 30s);
        killed->signal(SIGKILL);
        REQUIRE(killed->wait());
        fs::remove(started);
        auto leftovers = [&] {
            std::vector<std::string> out;
            for (const auto& entry : fs::directory_iterator(c.state)) {
                if (entry.path().filename().string().starts_with("excludes-")) {
                    out.push_back(entry.path().string());
                }
            }
            return out;
        };
        CHECK(leftovers().size() == 1); // the killed run's exclude file
        auto next = c.daily();
        INFO(next.err);
        CHECK(next.exit_code() == 0);
        CHECK(c.snapshots().size() == 1);
        CHECK(leftovers().empty());
        write_file(dir->path() / "go-1", ""); // ends the orphaned hook of the killed run

        // A restic killed during a backup leaves its lock in the repository; the next run's
        // `restic unlock` removes it (its process is gone), so that prune can lock exclusively.
        util::SpawnOptions hung;
        hung.argv = {require_program("restic"), "backup", "--host", "e2e-web1",
                     "--stdin-from-command",    "--",     "sleep",  "600"};
        hung.env = c.oracle.env;
        hung.stdout_mode = util::Output::null;
        hung.stderr_mode = util::Output::null;
        auto restic = util::Child::spawn(hung);
        REQUIRE(restic);
        fs::path locks = server.data_dir() / "web1/locks";
        auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!fs::exists(locks) || fs::is_empty(locks)) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(20ms);
        }
        restic->signal(SIGKILL);
        REQUIRE(restic->wait());
        REQUIRE_FALSE(fs::is_empty(locks));

        c.write_config(config + "unlock_stale_locks: false\n");
        auto blocked = c.daily();
        INFO(blocked.err);
        CHECK(blocked.exit_code() == 111);
        CHECK(blocked.err.find("unable to apply the retention policy") != std::string::npos);
        CHECK(blocked.err.find("(restic exit status 11)") != std::string::npos);

        c.write_config(config);
        auto unlocked = c.daily();
        INFO(unlocked.err);
        CHECK(unlocked.exit_code() == 0);
        // versitygw removes a directory with its last object.
        CHECK((!fs::exists(locks) || fs::is_empty(locks)));

        // TERM: the running command is stopped, the after hooks still run, the run is recorded.
        write_file(arm, (dir->path() / "go-2").string());
        auto stopped = util::Child::spawn(o);
        REQUIRE(stopped);
        wait_for_file(started, 30s);
        auto before = std::chrono::steady_clock::now();
        stopped->signal(SIGTERM);
        auto status = stopped->wait();
        REQUIRE(status);
        CHECK(std::chrono::steady_clock::now() - before < 15s);
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 111);
        auto err = util::read_all(stopped->err().get(), "stderr");
        REQUIRE(err);
        CHECK(*err == fmt::format("restic-wrapper: error: unable to run the before hook 'sh -c {}' "
                                  "(hooks.before[0]): interrupted by SIGTERM\n",
                                  hook));
        auto last = c.status()["last_attempt"];
        CHECK(last["result"] == "failed");
        CHECK(last["exit_code"] == 111);
        CHECK(util::read_file(after.string()).value_or("") == "ok\nfailed\nok\nfailed\n");
        CHECK(c.daily().exit_code() == 0);
    }
    require_no_processes(dir->path());
}
