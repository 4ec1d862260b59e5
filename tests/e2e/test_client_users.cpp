// Each dedicated client runs as a system user of its own, made and removed by new-restic-server:
// one client's storage server process cannot touch another client's files. And a dedicated
// versitygw client holds an account on its gateway, never the gateway's root keys.
#include <catch2/catch.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "model/runit.hpp"
#include "support/access.hpp"
#include "support/backup_server.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

struct Account {
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    std::string shell;
};

std::optional<Account> account(const std::string& user) {
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        return std::nullopt;
    }
    return Account{user, pw->pw_uid, pw->pw_gid, pw->pw_dir, pw->pw_shell};
}

uid_t uid_of_file(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_uid;
}

// The real uid of a running process (/proc/PID/status, "Uid:" real effective saved fs).
uid_t uid_of_process(pid_t pid) {
    auto text = util::read_file(fmt::format("/proc/{}/status", pid));
    REQUIRE(text);
    auto at = text->find("\nUid:\t");
    REQUIRE(at != std::string::npos);
    return static_cast<uid_t>(std::stoul(text->substr(at + 6)));
}

// A shell command as user:group with no other group, the way runit's chpst -u runs a service.
ProcessResult as_user(const std::string& user, const std::string& command) {
    return run_cmd({require_program("chpst"), "-u", user + ":" + user, "/bin/sh", "-c", command},
                   base_environment());
}

void stop_client(BackupServer& server, const std::string& host) {
    auto pids = processes_using(server.client_dir(host));
    server.disable(host);
    for (pid_t pid : pids) {
        CHECK(wait_for_pid_exit(pid, 30s));
    }
}

} // namespace

TEST_CASE("client users: each dedicated client's services run as its own user, which the "
          "kernel keeps out of every other client's data",
          "[new-restic-server][users]") {
    auto dir = util::TempDir::create_in_tmp("e2e-users");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        std::vector<std::pair<std::string, std::string>> clients = {{"web1", "rest-server"},
                                                                    {"web2", "versitygw"}};
        for (const auto& [host, kind] : clients) {
            auto config = server.provision(host, kind);
            CHECK(config.owner_user == server.user_prefix() + host);
            CHECK(config.owner_group == config.owner_user);
            CHECK(config.owner_created);
            auto user = account(config.owner_user);
            REQUIRE(user);
            CHECK(user->uid < 1000); // a system user
            CHECK(user->home == "/nonexistent");
            CHECK(user->shell == "/usr/sbin/nologin");
            CHECK_FALSE(fs::exists(user->home));
            const group* gr = ::getgrnam(config.owner_user.c_str());
            REQUIRE(gr != nullptr);
            CHECK(gr->gr_gid == user->gid);
            CHECK(uid_of_file(server.client_dir(host) / "data") == user->uid);
            CHECK(uid_of_file(server.client_dir(host) / "state") == user->uid);
        }
        CHECK(account(server.user_prefix() + "web1")->uid !=
              account(server.user_prefix() + "web2")->uid);

        server.start();
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto& [host, kind] : clients) {
            server.enable(host);
            server.wait_for_storage(host);
            auto client = server.client(host);
            client.run({"init"});
            client.run({"backup", source.string()});
            auto snapshots = client.run({"snapshots", "--json"});
            CHECK(util::Json::parse(snapshots.out).size() == 1);
            // The storage server runs as the client's user, and so does what it wrote.
            auto config = server.client_config(host);
            auto status =
                core::read_supervise_status(server.client_dir(host) / "conf/runsvs" / kind);
            REQUIRE(status);
            REQUIRE(status->pid > 0);
            CHECK(uid_of_process(status->pid) == account(config.owner_user)->uid);
            CHECK(uid_of_file(config.repository / "config") == account(config.owner_user)->uid);
        }

        // web1's user, as its storage server runs, against web2's data and its own.
        std::string web1 = server.user_prefix() + "web1";
        fs::path theirs = server.client_dir("web2") / "data";
        fs::path their_repo = server.client_config("web2").repository;
        fs::path mine = server.client_dir("web1") / "data";
        for (const auto& command : {fmt::format("echo x > {}/probe", theirs.string()),
                                    fmt::format("echo x >> {}/config", their_repo.string()),
                                    fmt::format("rm -f {}/config", their_repo.string()),
                                    fmt::format("ls {}", theirs.string())}) {
            INFO(command);
            auto r = as_user(web1, command);
            CHECK_FALSE(r.success());
            CHECK(r.err.find("Permission denied") != std::string::npos); // EACCES
        }
        CHECK(fs::exists(their_repo / "config"));
        CHECK_FALSE(fs::exists(theirs / "probe"));
        auto own = as_user(web1, fmt::format("echo x > {0}/probe && echo y >> {0}/probe && "
                                             "test \"$(cat {0}/probe)\" = \"$(printf 'x\\ny')\" && "
                                             "rm {0}/probe",
                                             mine.string()));
        INFO(own.out << own.err);
        CHECK(own.success());

        // Removed, the client's user goes, and its kept data is root's.
        stop_client(server, "web1");
        auto removed = server.new_restic_server({"-H", "web1", "--remove"});
        INFO(removed.out << removed.err);
        REQUIRE(removed.success());
        CHECK_FALSE(account(web1));
        CHECK(::getgrnam(web1.c_str()) == nullptr);
        bool found = false;
        for (const auto& e : fs::directory_iterator(server.root() / "systems/removed")) {
            found = true;
            for (const auto& f : fs::recursive_directory_iterator(e.path())) {
                INFO(f.path());
                CHECK(uid_of_file(f.path()) == 0);
            }
        }
        CHECK(found);
        CHECK(account(server.user_prefix() + "web2"));
    }
    require_no_processes(dir->path());
}

TEST_CASE("client users: a failed provisioning takes its user back, a named user is kept, long "
          "names are cut",
          "[new-restic-server][users]") {
    auto dir = util::TempDir::create_in_tmp("e2e-users-fail");
    REQUIRE(dir);
    {
        fs::path replicas = dir->path() / "replicas";
        fs::create_directories(replicas / "web1");
        REQUIRE(util::atomic_write((replicas / "web1/stray").string(), "x\n", 0644));
        BackupServer server(dir->path(), fmt::format("destinations:\n"
                                                     "  - {{name: disk2, path: '{}/{{host}}'}}\n",
                                                     replicas.string()));
        // Refused after its user was made (the destination is checked as that user).
        auto r = server.new_restic_server({"-H", "web1", "--server", "rest-server"});
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("is not empty") != std::string::npos);
        CHECK_FALSE(account(server.user_prefix() + "web1"));
        CHECK(server.client_users().empty());

        // A user of that name exists already: never taken over.
        REQUIRE(run_cmd({"/usr/sbin/useradd", "--system", "--no-create-home",
                         server.user_prefix() + "web3"},
                        base_environment())
                    .success());
        auto clash = server.new_restic_server({"-H", "web3", "--server", "rest-server"});
        CHECK(clash.exit_code() == 100);
        CHECK(clash.err.find("exists already") != std::string::npos);
        CHECK_FALSE(fs::exists(server.client_dir("web3")));

        // A host name too long for a user name: cut, with a hash, and made.
        std::string host = std::string(40, 'h') + ".example.org";
        auto config = server.provision(host, "rest-server");
        CHECK(config.owner_user.size() <= 32);
        CHECK(config.owner_user == fmt::format("{}{}-{}", server.user_prefix(),
                                               host.substr(0, 32 - server.user_prefix().size() - 9),
                                               util::sha256_hex(host).substr(0, 8)));
        CHECK(account(config.owner_user));

        // A user the operator names is used, recorded as not made here, and kept on --remove.
        auto named = server.provision("web4", "rest-server", {"-U", "nobody", "-G", "nogroup"});
        CHECK(named.owner_user == "nobody");
        CHECK_FALSE(named.owner_created);
        auto removed = server.new_restic_server({"-H", "web4", "--remove"});
        INFO(removed.out << removed.err);
        REQUIRE(removed.success());
        CHECK(account("nobody"));
    }
    require_no_processes(dir->path());
}

TEST_CASE("client users: a dedicated versitygw client has an account on its gateway, never the "
          "root keys",
          "[new-restic-server][users][versitygw]") {
    auto dir = util::TempDir::create_in_tmp("e2e-users-vgw");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        auto config = server.provision("web1", "versitygw");
        fs::path secrets = server.client_dir("web1") / "secrets";
        fs::path env = secrets / "versitygw.env";
        auto root_access = util::read_file((env / "ROOT_ACCESS_KEY_ID").string());
        auto root_secret = util::read_file((env / "ROOT_SECRET_ACCESS_KEY").string());
        REQUIRE(root_access);
        REQUIRE(root_secret);
        auto line = [](const std::string& text) { return text.substr(0, text.find('\n')); };
        // The root keys are root's (chpst reads them before dropping privileges).
        for (const auto* name : {"ROOT_ACCESS_KEY_ID", "ROOT_SECRET_ACCESS_KEY"}) {
            CHECK(uid_of_file(env / name) == 0);
            CHECK((fs::status(env / name).permissions() & fs::perms::all) == fs::perms(0600));
        }
        CHECK(uid_of_file(env) == 0);
        // The environ file holds neither.
        auto environ_text =
            util::read_file((server.client_dir("web1") / "client/environ").string());
        REQUIRE(environ_text);
        CHECK(environ_text->find(line(*root_access)) == std::string::npos);
        CHECK(environ_text->find(line(*root_secret)) == std::string::npos);
        auto client_env = server.client("web1").env;
        CHECK(config.user == client_env.at("AWS_ACCESS_KEY_ID"));

        server.start();
        server.enable("web1");
        server.wait_for_storage("web1");
        auto client = server.client("web1");
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        client.run({"backup", source.string()});
        CHECK(util::Json::parse(client.run({"snapshots", "--json"}).out).size() == 1);

        // A bucket the client does not own (made with the root keys): out of its reach, and it
        // can make none of its own.
        std::string ca = (server.client_dir("web1") / "client/backup-ca.pem").string();
        auto by_root = s3_attempts(config.endpoint(), line(*root_access), line(*root_secret),
                                   "probe-new-bucket", dir->path(), Probes::all, ca);
        REQUIRE(attempt_named(by_root, "create bucket").succeeded);
        REQUIRE(attempt_named(by_root, "write").succeeded);
        auto other = s3_attempts(config.endpoint(), client_env.at("AWS_ACCESS_KEY_ID"),
                                 client_env.at("AWS_SECRET_ACCESS_KEY"), "probe-new-bucket",
                                 dir->path(), Probes::all, ca);
        INFO(successful(other));
        CHECK(successful(other).empty());
        auto own = s3_attempts(config.endpoint(), client_env.at("AWS_ACCESS_KEY_ID"),
                               client_env.at("AWS_SECRET_ACCESS_KEY"), config.bucket, dir->path(),
                               Probes::read_only, ca);
        CHECK(attempt_named(own, "list").succeeded);

        // The admin API: not on the client's port; on the socket, root's keys only.
        auto admin = [&](const std::string& access, const std::string& secret,
                         std::vector<std::string> where, const std::string& url) {
            std::vector<std::string> argv = {
                require_program("curl"), "-K", "-", "-s", "-X", "PATCH", "-w",
                "\nHTTP %{http_code}"};
            argv.insert(argv.end(), where.begin(), where.end());
            argv.push_back(url);
            std::string curl_config =
                fmt::format("user = \"{}:{}\"\naws-sigv4 = \"aws:amz:us-east-1:s3\"\n"
                            "header = \"x-amz-content-sha256: {}\"\n",
                            access, secret, util::sha256_hex(""));
            return run_cmd(argv, base_environment(), curl_config);
        };
        std::string access = client_env.at("AWS_ACCESS_KEY_ID");
        std::string secret = client_env.at("AWS_SECRET_ACCESS_KEY");
        auto over_network =
            admin(access, secret, {"--cacert", ca}, config.endpoint() + "/list-users");
        CHECK(over_network.out.find("HTTP 200") == std::string::npos);
        std::vector<std::string> socket = {"--unix-socket", (secrets / "admin.sock").string()};
        auto as_client = admin(access, secret, socket, "http://localhost/list-users");
        INFO(as_client.out << as_client.err);
        CHECK(as_client.out.find("HTTP 200") == std::string::npos);
        auto as_root =
            admin(line(*root_access), line(*root_secret), socket, "http://localhost/list-users");
        INFO(as_root.out << as_root.err);
        CHECK(as_root.out.find("HTTP 200") != std::string::npos);
        CHECK(as_root.out.find(access) != std::string::npos);

        // New keys, on the running gateway (no restart) and on a stopped one.
        for (bool running : {true, false}) {
            INFO("running: " << running);
            if (!running) {
                stop_client(server, "web1");
            }
            auto old_env = server.client("web1").env;
            auto rotated = server.new_restic_server({"-H", "web1", "--rotate-keys"});
            INFO(rotated.out << rotated.err);
            REQUIRE(rotated.success());
            if (!running) {
                server.enable("web1");
                server.wait_for_storage("web1");
            }
            auto fresh = server.client("web1");
            fresh.env["RESTIC_PASSWORD_FILE"] = client.env["RESTIC_PASSWORD_FILE"];
            CHECK(fresh.env.at("AWS_ACCESS_KEY_ID") == access); // the same account
            CHECK(fresh.try_run({"cat", "config"}).success());
            auto old_probe = client_attempts(old_env, server.client_config("web1"), dir->path(),
                                             Probes::read_only);
            INFO(successful(old_probe));
            CHECK(successful(old_probe).empty());
        }
    }
    require_no_processes(dir->path());
}
