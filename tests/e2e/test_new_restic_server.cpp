// new-restic-server and the runit tree: dedicated storage servers per client, provisioned with
// the real tool, supervised by a real top-level runsvdir, used by real restic.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>

#include "model/runit.hpp"
#include "support/access.hpp"
#include "support/backup_server.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Every path under dir with its type and size: to show a failed command changed nothing.
std::string tree_listing(const fs::path& dir) {
    std::vector<std::string> lines;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
        auto st = it->symlink_status();
        lines.push_back(fmt::format("{} {}", it->path().string(), static_cast<int>(st.type())));
    }
    std::sort(lines.begin(), lines.end());
    return fmt::format("{}", fmt::join(lines, "\n"));
}

std::vector<pid_t> pids_under(const fs::path& dir) {
    return processes_using(dir);
}

bool port_open(int port) {
    util::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    return ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

bool wait_port_closed(int port, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (port_open(port)) {
        if (Clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

} // namespace

TEST_CASE("new-restic-server: clients of both kinds come up, back up, and are isolated",
          "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        std::vector<std::pair<std::string, std::string>> clients = {{"vgw-a", "versitygw"},
                                                                    {"vgw-b", "versitygw"},
                                                                    {"rest-a", "rest-server"},
                                                                    {"rest-b", "rest-server"}};
        for (const auto& [host, kind] : clients) {
            server.provision(host, kind);
        }
        server.start();
        for (const auto& [host, kind] : clients) {
            server.enable(host);
        }
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto& [host, kind] : clients) {
            server.wait_for_storage(host);
            auto client = server.client(host);
            client.run({"init"});
            client.run({"backup", source.string()});
            auto config = server.client_config(host);
            // The repository is plain files in this client's data/.
            REQUIRE(config.repository.string().starts_with(server.client_dir(host).string()));
            int files = 0;
            auto problems = verify_repository_files(config.repository, &files);
            INFO(fmt::format("{}", fmt::join(problems, "\n")));
            CHECK(problems.empty());
            CHECK(files >= 5);
            // Services dropped privileges: the data belongs to nobody.
            CHECK(fs::exists(config.repository / "config"));
        }

        // Isolation: A's credentials cannot list, read, write or delete B's repository.
        auto attempts = [&](const std::string& user, const std::string& target,
                            Probes probes = Probes::all) {
            auto creds = server.client(user).env;
            return client_attempts(creds, server.client_config(target), dir->path(), probes);
        };
        // The probes can succeed: each client reads its own repository (read-only probes).
        for (const auto& [host, kind] : clients) {
            INFO(host << " against itself");
            auto own = attempts(host, host, Probes::read_only);
            auto read = std::find_if(own.begin(), own.end(),
                                     [](const AccessAttempt& a) { return a.operation == "read"; });
            REQUIRE(read != own.end());
            CHECK(read->succeeded);
        }
        for (const auto& [a, b] :
             std::vector<std::pair<std::string, std::string>>{{"vgw-a", "vgw-b"},
                                                              {"vgw-b", "vgw-a"},
                                                              {"rest-a", "rest-b"},
                                                              {"rest-b", "rest-a"},
                                                              {"rest-a", "vgw-b"},
                                                              {"vgw-a", "rest-b"}}) {
            INFO(a << " against " << b);
            auto probe = attempts(a, b);
            CHECK(probe.size() >= 5);
            INFO(successful(probe));
            CHECK(successful(probe).empty());
        }
        for (const auto& [host, kind] : clients) {
            auto snapshots = server.client(host).run({"snapshots", "--json"});
            CHECK(util::Json::parse(snapshots.out).size() == 1);
        }

        // No secret on any command line of the running tree.
        std::vector<std::string> secrets;
        for (const auto& [host, kind] : clients) {
            auto s = server.secrets_of(host);
            secrets.insert(secrets.end(), s.begin(), s.end());
        }
        int checked = 0;
        for (const auto& entry : fs::directory_iterator("/proc")) {
            auto cmdline = util::read_file((entry.path() / "cmdline").string());
            if (!cmdline || cmdline->find(dir->str()) == std::string::npos) {
                continue;
            }
            ++checked;
            for (const auto& secret : secrets) {
                CHECK(cmdline->find(secret) == std::string::npos);
            }
        }
        CHECK(checked >= 12); // runsv, servers, syncd, loggers of four clients
    }
    require_no_processes(dir->path());
}

TEST_CASE("new-restic-server: sv down/up and unlinking act on one client's whole tree",
          "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        auto one = server.provision("one", "versitygw");
        auto two = server.provision("two", "rest-server");
        server.start();
        server.enable("one");
        server.enable("two");
        server.wait_for_storage("one");
        server.wait_for_storage("two");
        auto sv = [&](const std::string& cmd, const std::string& host) {
            auto r = run_cmd(
                {require_program("sv"), "-w", "30", cmd, (server.scan_dir() / host).string()},
                base_environment());
            INFO(r.out << r.err);
            CHECK(r.success());
        };
        auto storage_pid = [&](const std::string& host, const std::string& kind) {
            auto s = core::read_supervise_status(server.client_dir(host) / "conf/runsvs" / kind);
            INFO((s ? std::string() : s.error().message()));
            REQUIRE(s);
            return s->pid;
        };
        pid_t two_pid = storage_pid("two", "rest-server");

        sv("down", "one");
        CHECK(wait_port_closed(one.port, 10s));
        CHECK(port_open(two.port));
        // Only the runsv of one's own service dir may remain; nothing of its nested tree.
        auto left = pids_under(server.client_dir("one") / "conf/runsvs");
        CHECK(left.empty());
        sv("up", "one");
        server.wait_for_storage("one");
        CHECK(storage_pid("two", "rest-server") == two_pid);

        // Unlinking stops the whole tree of one; nothing of it keeps running.
        std::vector<pid_t> before = pids_under(server.client_dir("one"));
        CHECK(before.size() >= 6); // runsv x3 (+ loggers), runsvdir, versitygw, syncd, svlogd
        server.disable("one");
        for (pid_t pid : before) {
            CHECK(wait_for_pid_exit(pid, 30s));
        }
        CHECK(pids_under(server.client_dir("one")).empty());
        CHECK(port_open(two.port));
        CHECK(storage_pid("two", "rest-server") == two_pid);

        // And it comes back: no stale supervise/lock.
        server.enable("one");
        server.wait_for_storage("one");
        auto client = server.client("one");
        client.run({"init"});
    }
    require_no_processes(dir->path());
}

TEST_CASE("new-restic-server: bad input is refused and changes nothing", "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs");
    REQUIRE(dir);
    BackupServer server(dir->path());
    server.provision("web1", "versitygw");
    auto before = tree_listing(server.root());
    auto environ_before =
        util::read_file((server.client_dir("web1") / "client/environ").string()).value_or("");

    auto expect_refused = [&](std::vector<std::string> args, int code, const std::string& text) {
        auto r = server.new_restic_server(args);
        INFO(r.out << r.err);
        CHECK(r.exit_code() == code);
        CHECK(r.err.starts_with("new-restic-server: error: unable to "));
        CHECK(r.err.find(text) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        CHECK(tree_listing(server.root()) == before);
    };
    expect_refused({"-H", "../etc"}, 100, "host name");
    expect_refused({"-H", "Web2"}, 100, "host name");
    expect_refused({"-H", "web1"}, 100, "exists");
    // Names the layout uses itself, and names that make no S3 bucket (both topologies).
    expect_refused({"-H", "removed"}, 100, "layout");
    expect_refused({"-H", "conf", "--server", "rest-server"}, 100, "layout");
    for (const char* bad : {"192.168.1.1", "a.-b", "a-.b"}) {
        expect_refused({"-H", bad, "--server", "versitygw"}, 100, "S3 bucket name");
        expect_refused({"-H", bad, "--server", "versitygw", "--topology", "shared"}, 100,
                       "S3 bucket name");
    }
    auto web1 = server.client_config("web1");
    expect_refused({"-H", "web2", "-p", std::to_string(web1.port)}, 100, "another client");
    {
        util::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int port = free_port();
        addr.sin_port = htons(static_cast<uint16_t>(port));
        REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(sock.get(), 1) == 0);
        expect_refused({"-H", "web2", "-p", std::to_string(port)}, 100, "in use");
    }
    expect_refused({"-H", "web2", "-U", "no-such-user-here"}, 100, "no such user");
    CHECK(util::read_file((server.client_dir("web1") / "client/environ").string()).value_or("") ==
          environ_before);

    // An unwritable root: nothing can be created there, not even by root.
    auto r = server.new_restic_server({"-H", "web2", "--root", "/proc/self"});
    CHECK(r.exit_code() == 111);
    CHECK(r.err.starts_with("new-restic-server: error: unable to create directory /proc/self/"));
    auto missing = server.new_restic_server({"-H", "web2", "--root", "/nonexistent"});
    CHECK(missing.exit_code() == 100);
}

TEST_CASE("new-restic-server: what the service user cannot reach is refused before anything is "
          "written, destinations are made or refused",
          "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs");
    REQUIRE(dir);
    fs::path replicas = dir->path() / "replicas";
    BackupServer server(dir->path(), fmt::format("destinations:\n"
                                                 "  - {{name: disk2, path: '{}/{{host}}'}}\n",
                                                 replicas.string()));
    auto expect_refused = [&](const std::string& host, const std::string& text,
                              std::vector<std::string> extra = {}) {
        auto before = tree_listing(server.root());
        std::vector<std::string> args = {"-H", host};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = server.new_restic_server(args);
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 100);
        CHECK(r.err.starts_with("new-restic-server: error: unable to "));
        CHECK(r.err.find(text) != std::string::npos);
        CHECK(tree_listing(server.root()) == before);
        CHECK(server.client_users().empty()); // the client's own user was taken back
    };
    // The destination's parent is missing (a disk not mounted?): never made, the command given
    // (for a user that exists: a client's own one is made with the client).
    expect_refused("web1", (replicas.string() + " does not exist (a disk not mounted?); make it"));
    expect_refused("web1",
                   "install -d -o nobody -g nogroup -m 0700 " + (replicas / "web1").string(),
                   {"-U", "nobody", "-G", "nogroup"});
    fs::create_directory(replicas);
    fs::permissions(replicas, fs::perms(0700));
    expect_refused("web1", "reach destination disk2's parent");
    fs::permissions(replicas, fs::perms(0755));

    // A program the service user cannot execute: the file itself, then a directory above it.
    fs::path versitygw = dir->path() / "bin/versitygw";
    fs::permissions(versitygw, fs::perms(0700));
    expect_refused("web1", "run versitygw (" + versitygw.string() + ") as the service user " +
                               server.user_prefix() + "web1: Permission denied");
    fs::permissions(versitygw, fs::perms(0755));
    fs::permissions(dir->path() / "bin", fs::perms(0700));
    expect_refused("web1", "it cannot search " + (dir->path() / "bin").string());
    fs::permissions(dir->path() / "bin", fs::perms(0755));
    CHECK_FALSE(fs::exists(replicas / "web1"));

    // Reachable: the destination is made for the service user, 0700, and the next steps say so.
    auto made = server.new_restic_server({"-H", "web1"});
    INFO(made.out << made.err);
    REQUIRE(made.success());
    std::string user = server.user_prefix() + "web1";
    CHECK(made.out.find("disk2: " + (replicas / "web1").string() + " (made for " + user +
                        ", 0700") != std::string::npos);
    CHECK(made.out.find("restic-audit.cron") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat((replicas / "web1").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    const passwd* owner = ::getpwnam(user.c_str());
    REQUIRE(owner != nullptr);
    CHECK(st.st_uid == owner->pw_uid);

    // Removed, its replica stays and the output says so; the name cannot reuse it by accident.
    auto removed = server.new_restic_server({"-H", "web1", "--remove"});
    INFO(removed.out << removed.err);
    REQUIRE(removed.success());
    CHECK(removed.out.find("disk2: " + (replicas / "web1").string()) != std::string::npos);
    REQUIRE(util::atomic_write((replicas / "web1/config").string(), "x", 0600));
    expect_refused("web1", "holds a restic repository");
    fs::remove(replicas / "web1/config");
    server.provision("web1", "versitygw");
    require_no_processes(dir->path());
}

TEST_CASE("new-restic-server: remove keeps data and is refused while enabled, keys rotate",
          "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        for (const auto* kind : {"versitygw", "rest-server"}) {
            std::string host = std::string("rot-") + (kind[0] == 'v' ? "vgw" : "rest");
            INFO(host);
            server.provision(host, kind);
            server.start();
            server.enable(host);
            server.wait_for_storage(host);
            auto old_client = server.client(host);
            old_client.run({"init"});
            auto r = server.new_restic_server({"-H", host, "--rotate-keys"});
            INFO(r.out << r.err);
            REQUIRE(r.success());
            server.wait_for_storage(host);
            auto new_client = server.client(host);
            // Same repository password, new server credentials.
            new_client.env["RESTIC_PASSWORD_FILE"] = old_client.env["RESTIC_PASSWORD_FILE"];
            CHECK(new_client.try_run({"cat", "config"}).success());
            // The old keys are refused (probed directly: restic would retry for minutes).
            auto config_now = server.client_config(host);
            auto probe =
                client_attempts(old_client.env, config_now, dir->path(), Probes::read_only);
            INFO(successful(probe));
            CHECK(successful(probe).empty());
            auto new_probe =
                client_attempts(new_client.env, config_now, dir->path(), Probes::read_only);
            CHECK(new_probe.at(0).succeeded);
            CHECK(new_probe.at(1).succeeded);

            auto refused = server.new_restic_server({"-H", host, "--remove"});
            CHECK(refused.exit_code() == 100);
            CHECK(refused.err.find("enabled") != std::string::npos);
            CHECK(fs::exists(server.client_dir(host) / "conf/client.yaml"));

            auto service_pids = pids_under(server.client_dir(host));
            server.disable(host);
            for (pid_t pid : service_pids) {
                CHECK(wait_for_pid_exit(pid, 30s));
            }
            auto config = server.client_config(host);
            auto removed = server.new_restic_server({"-H", host, "--remove"});
            INFO(removed.out << removed.err);
            REQUIRE(removed.success());
            CHECK_FALSE(fs::exists(server.client_dir(host)));
            auto kept = server.root() / "systems/removed";
            REQUIRE(fs::exists(kept));
            bool found = false;
            for (const auto& e : fs::directory_iterator(kept)) {
                if (e.path().filename().string().starts_with(host + "-")) {
                    found = true;
                    CHECK(fs::exists(
                        e.path() / "data" /
                        config.repository.lexically_relative(server.client_dir(host) / "data") /
                        "config"));
                    CHECK_FALSE(fs::exists(e.path() / "secrets"));
                }
            }
            CHECK(found);
            // The host name is free again.
            server.provision(host, kind);
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("new-restic-server --systemd-unit: a unit systemd accepts, for the root it is given",
          "[new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-nrs-unit");
    REQUIRE(dir);
    fs::path root = dir->path() / "backups";
    fs::create_directories(root);
    fs::path helper = dir->path() / "restic-backup-stop";
    REQUIRE(util::atomic_write(helper.string(), "#!/bin/sh\nexit 0\n", 0755));
    std::string nrs = fs::path(tools_dir()) / "new-restic-server";
    auto r = run_cmd({nrs, "-c", "/dev/null", "--systemd-unit", "--root", root.string(),
                      "--stop-helper", helper.string()},
                     base_environment());
    INFO(r.out << r.err);
    REQUIRE(r.success());
    std::string scan = (root / "systems/conf/runit").string();
    CHECK(r.out.find("\nExecStart=/usr/bin/runsvdir -P " + scan + "\n") != std::string::npos);
    CHECK(r.out.find("\nExecStop=" + helper.string() + " $MAINPID " + scan + "\n") !=
          std::string::npos);
    CHECK(r.out.find("\nRequiresMountsFor=" + root.string() + "\n") != std::string::npos);
    CHECK(r.out.find('@') == std::string::npos); // every placeholder filled
    // systemd's own parser: it warns on stderr (and still exits 0) for anything it ignores.
    fs::path unit = dir->path() / "restic-backup-runsvdir.service";
    REQUIRE(util::atomic_write(unit.string(), r.out, 0644));
    auto verify =
        run_cmd({require_program("systemd-analyze"), "verify", unit.string()}, base_environment());
    INFO(verify.out << verify.err);
    CHECK(verify.success());
    CHECK(verify.err.empty());

    // Without --stop-helper and none installed next to it: refused, saying how to name it.
    auto env = base_environment();
    env["PATH"] = "/usr/bin:/bin";
    auto missing =
        run_cmd({nrs, "-c", "/dev/null", "--systemd-unit", "--root", root.string()}, env);
    CHECK(missing.exit_code() == 100);
    CHECK(missing.err.find("--stop-helper") != std::string::npos);
    CHECK(missing.out.empty());
}
