// A remote primary (issue 18): new-restic-server --remote-repository provisions a client whose
// repository is on versitygw ("somebody else's S3"), with only backup-syncd in its runsvdir; under
// a real runsvdir it lists the bucket and backup-status shows what it saw, without a request of
// its own.
#include <catch2/catch.hpp>

#include <functional>
#include <pwd.h>
#include <sys/stat.h>
#include <thread>

#include "model/environ.hpp"
#include "model/repository.hpp"
#include "support/backup_server.hpp"
#include "support/seaweedfs.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A BackupServer whose services find rclone where an installed toolkit has it (next to their
// bin/, in libexec/restic-backup/), and whose sync command is, unless a server config is given,
// a stand-in that records what appeared (restic-replicate's own remote support is tested with
// restic-replicate, and with the whole chain in the SeaweedFS case below).
class RemoteServer {
public:
    explicit RemoteServer(const fs::path& work, const std::string& server_config = {})
        : m_work(work), m_server(work, "tls: off\n" + server_config) {
        fs::path libexec = work / "libexec/restic-backup";
        fs::create_directories(libexec);
        fs::copy_file(require_program("rclone"), libexec / "rclone");
        fs::permissions(work / "libexec", fs::perms(0755));
        fs::permissions(libexec, fs::perms(0755));
        m_env = base_environment();
        m_env["PATH"] = libexec.string() + ":" + m_env["PATH"];
        if (!server_config.empty()) {
            return; // the real restic-replicate, to the destinations the config names
        }
        fs::path replicate = work / "bin/restic-replicate";
        fs::remove(replicate);
        REQUIRE(
            util::atomic_write(replicate.string(),
                               "#!/bin/sh\n# --root R --client HOST APPEARED GONE\n"
                               "tr '\\000' '\\n' < \"$5\" >> \"$2/systems/$4/state/appeared\"\n",
                               0755));
    }

    ProcessResult provision(std::vector<std::string> args) const {
        std::vector<std::string> argv = {(fs::path(tools_dir()) / "new-restic-server").string(),
                                         "-c", m_server.config_file().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_cmd(argv, m_env);
    }

    // backup-status --json, its exit code and the client's row.
    std::pair<int, util::Json> status(const std::string& host) const {
        auto r = run_cmd({(fs::path(tools_dir()) / "backup-status").string(), "-c",
                          m_server.config_file().string(), "--json"},
                         m_env);
        INFO(r.out << r.err);
        auto json = util::Json::parse(r.out);
        for (const auto& c : json["clients"]) {
            if (c["host"] == host) {
                return {r.exit_code(), c};
            }
        }
        FAIL("no row for " << host);
        return {};
    }

    BackupServer& server() { return m_server; }
    const Environment& env() const { return m_env; }

private:
    fs::path m_work;
    BackupServer m_server;
    Environment m_env;
};

std::string rclone_config(const VersitygwServer& store, const std::string& name) {
    return fmt::format("[{}]\ntype = s3\nprovider = Other\nendpoint = {}\naccess_key_id = {}\n"
                       "secret_access_key = {}\nregion = us-east-1\n",
                       name, store.endpoint(), store.access_key(), store.secret_key());
}

unsigned mode_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777U;
}

} // namespace

TEST_CASE("new-restic-server --remote-repository: backup-syncd only, the rclone config 0600, "
          "refusals write nothing, --remove leaves the store",
          "[new-restic-server][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-remote-prov");
    REQUIRE(dir);
    RemoteServer remote(dir->path());
    BackupServer& server = remote.server();
    fs::path config = dir->path() / "store.conf";
    REQUIRE(util::atomic_write(config.string(),
                               "[store]\ntype = s3\nprovider = Other\n"
                               "endpoint = http://127.0.0.1:9\naccess_key_id = ro\n"
                               "secret_access_key = ro-secret\n",
                               0600));
    auto nothing_written = [&] {
        std::vector<std::string> left;
        for (const auto& e : fs::directory_iterator(server.root() / "systems")) {
            if (e.path().filename() != "conf") {
                left.push_back(e.path().filename().string());
            }
        }
        return left;
    };
    fs::create_directories(server.root() / "systems/conf");

    SECTION("a config that does not define the remote, or a connection string: 100, nothing") {
        auto r = remote.provision({"-H", "web1", "--remote-repository", "other:backups/web1",
                                   "--remote-config", config.string()});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("defines no remote 'other'") != std::string::npos);
        r = remote.provision({"-H", "web1", "--remote-repository", ":s3,endpoint=x:b/web1"});
        CHECK(r.exit_code() == 100);
        r = remote.provision(
            {"-H", "web1", "--remote-repository", "store:backups/web1", "--port", "20000"});
        CHECK(r.exit_code() == 100);
        CHECK(nothing_written().empty());
        CHECK(server.client_users().empty());
    }

    SECTION("the files, their modes, the run script; --remove") {
        auto r = remote.provision({"-H", "web1", "--remote-repository", "store:backups/web1",
                                   "--remote-config", config.string(), "--poll-interval", "5"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        CHECK(r.out.find("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are placeholders") !=
              std::string::npos);
        fs::path client = server.client_dir("web1");
        auto yaml = server.client_config("web1");
        CHECK(yaml.remote_repository == "store:backups/web1");
        CHECK(yaml.poll_interval_seconds == 5);
        CHECK(mode_of(client / "secrets") == 0700);
        CHECK(mode_of(client / "secrets/rclone.conf") == 0600);
        CHECK(*util::read_file((client / "secrets/rclone.conf").string()) ==
              *util::read_file(config.string()));
        struct stat st {};
        REQUIRE(::stat((client / "secrets/rclone.conf").c_str(), &st) == 0);
        auto owner = server.client_users();
        REQUIRE(owner.size() == 1);
        CHECK(yaml.owner_user == owner[0]);
        struct passwd* pw = ::getpwnam(owner[0].c_str());
        REQUIRE(pw != nullptr);
        CHECK(st.st_uid == pw->pw_uid);
        CHECK(mode_of(client / "client/environ") == 0600);
        auto environ_text = *util::read_file((client / "client/environ").string());
        CHECK(environ_text.find("export RESTIC_REPOSITORY=s3:http://127.0.0.1:9/backups/web1\n") !=
              std::string::npos);
        CHECK(environ_text.find("AWS_ACCESS_KEY_ID=FILL-IN") != std::string::npos);
        CHECK(!fs::exists(client / "data"));
        std::vector<std::string> services;
        for (const auto& e : fs::directory_iterator(client / "conf/runsvs")) {
            services.push_back(e.path().filename().string());
        }
        CHECK(services == std::vector<std::string>{"backup-syncd"});
        auto run = *util::read_file((client / "conf/runsvs/backup-syncd/run").string());
        CHECK(run.find(fmt::format("--remote store:backups/web1 --rclone-config {} "
                                   "--poll-interval 5 ",
                                   (client / "secrets/rclone.conf").string())) !=
              std::string::npos);

        r = remote.provision({"-H", "web1", "--remove"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        CHECK(r.out.find("its repository on store:backups/web1 is left as it is") !=
              std::string::npos);
        CHECK(!fs::exists(client));
        CHECK(server.client_users().empty());
    }

    SECTION("--event-port: backup-syncd listens there, and no other client gets the port") {
        std::string port = std::to_string(free_port());
        auto r = remote.provision({"-H", "web1", "--remote-repository", "store:backups/web1",
                                   "--remote-config", config.string(), "--event-port", port});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        CHECK(r.out.find("bucket events at http://127.0.0.1:" + port + "/") != std::string::npos);
        auto run =
            *util::read_file((server.client_dir("web1") / "conf/runsvs/backup-syncd/run").string());
        CHECK(run.find("--poll-interval 60 --event-listen 127.0.0.1:" + port + " --script") !=
              std::string::npos);
        CHECK(server.client_config("web1").event_port == std::stoi(port));
        r = remote.provision({"-H", "web2", "--remote-repository", "store:backups/web2",
                              "--remote-config", config.string(), "--event-port", port});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("--event-port " + port + ": another client uses it") != std::string::npos);
        CHECK(!fs::exists(server.client_dir("web2")));
        r = remote.provision({"-H", "web2", "--event-port", port});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("--event-port: they go with --remote-repository") != std::string::npos);
    }

    SECTION("without --remote-config: a template to fill in, saying which keys") {
        auto r = remote.provision({"-H", "web2", "--remote-repository", "store:backups/web2"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        CHECK(r.out.find("READ-ONLY key") != std::string::npos);
        CHECK(r.out.find("RESTIC_REPOSITORY is a placeholder") != std::string::npos);
        fs::path conf = server.client_dir("web2") / "secrets/rclone.conf";
        CHECK(mode_of(conf) == 0600);
        auto text = *util::read_file(conf.string());
        CHECK(text.find("[store]\ntype = s3\n") != std::string::npos);
        CHECK(text.find("access_key_id = FILL-IN") != std::string::npos);
    }
}

TEST_CASE("a remote primary under runsvdir: its backup is listed, backup-status shows it ok, and "
          "not ok once the store is down",
          "[backup-status][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-remote-status");
    REQUIRE(dir);
    VersitygwServer store(dir->path());
    RemoteServer remote(dir->path());
    BackupServer& server = remote.server();
    fs::path config = dir->path() / "store.conf";
    REQUIRE(util::atomic_write(config.string(), rclone_config(store, "store"), 0600));
    auto env = remote.env();
    env["RCLONE_CONFIG"] = config.string();
    auto mkdir = run_cmd({require_program("rclone"), "mkdir", "store:backups"}, env);
    INFO(mkdir.out << mkdir.err);
    REQUIRE(mkdir.success());
    auto r = remote.provision({"-H", "web1", "--remote-repository", "store:backups/web1",
                               "--remote-config", config.string(), "--poll-interval", "1"});
    INFO(r.out << r.err);
    REQUIRE(r.success());
    // The client backs up straight to the bucket with the environ's repository.
    auto client =
        make_restic_client(dir->path() / "client", "s3:" + store.endpoint() + "/backups/web1");
    client.env["AWS_ACCESS_KEY_ID"] = store.access_key();
    client.env["AWS_SECRET_ACCESS_KEY"] = store.secret_key();
    client.run({"init"});
    fs::create_directories(dir->path() / "files");
    REQUIRE(util::atomic_write((dir->path() / "files/a").string(), "hello\n", 0644));
    client.run({"backup", "-q", (dir->path() / "files").string()});
    server.start();
    server.enable("web1");
    fs::path state = server.client_dir("web1") / "state";
    REQUIRE(wait_until([&] { return fs::exists(state / "appeared"); }, 30s));
    CHECK(util::read_file((state / "appeared").string())->size() == 65);

    std::pair<int, util::Json> status;
    bool ok = wait_until(
        [&] {
            status = remote.status("web1");
            return status.second["state"] == "ok";
        },
        30s);
    INFO(status.second.dump(2));
    REQUIRE(ok);
    CHECK(status.first == 0);
    CHECK(status.second["kind"] == "remote");
    CHECK(status.second["snapshots"] == 1);
    CHECK(status.second["snapshot_bytes"].get<std::uint64_t>() > 0);
    CHECK(status.second["newest_snapshot"].is_number());

    store.stop();
    bool failing = wait_until(
        [&] {
            status = remote.status("web1");
            return status.second["state"] == "failing";
        },
        30s);
    INFO(status.second.dump(2));
    REQUIRE(failing);
    CHECK(status.first != 0);
    CHECK(status.second["problems"].dump().find("listing store:backups/web1 failed") !=
          std::string::npos);
    server.disable("web1");
    server.tree().stop();
    require_no_processes(dir->path());
}

TEST_CASE("a remote primary on SeaweedFS with the server's read-only key: listed, replicated by "
          "backup-syncd and restic-replicate, checked, ok",
          "[backup-status][remote][seaweedfs]") {
    auto dir = util::TempDir::create_in_tmp("e2e-remote-weed");
    REQUIRE(dir);
    SeaweedCluster cluster(dir->path());
    fs::path replicas = dir->path() / "replicas";
    fs::create_directories(replicas);
    RemoteServer remote(
        dir->path(),
        fmt::format("destinations:\n  - {{name: usb, path: '{}/{{host}}'}}\n", replicas.string()));
    BackupServer& server = remote.server();
    fs::path config = dir->path() / "readonly.conf";
    REQUIRE(
        util::atomic_write(config.string(),
                           fmt::format("[weed]\ntype = s3\nprovider = SeaweedFS\nendpoint = {}\n"
                                       "access_key_id = {}\nsecret_access_key = {}\n",
                                       cluster.endpoint(), cluster.read_only().access_key,
                                       cluster.read_only().secret_key),
                           0600));
    auto r = remote.provision({"-H", "web1", "--remote-repository", "weed:backups/web1",
                               "--remote-config", config.string(), "--poll-interval", "1"});
    INFO(r.out << r.err);
    REQUIRE(r.success());
    // The client's repository as its environ names it, with its own read-write key.
    fs::path environ_file = server.client_dir("web1") / "client/environ";
    auto parsed = core::parse_environ(*util::read_file(environ_file.string()), "environ");
    REQUIRE(parsed);
    std::string repository;
    for (const auto& a : *parsed) {
        if (a.name == "RESTIC_REPOSITORY") {
            repository = a.value;
        }
    }
    CHECK(repository == "s3:" + cluster.endpoint() + "/backups/web1");
    auto client = make_restic_client(dir->path() / "client", repository);
    client.env["AWS_ACCESS_KEY_ID"] = cluster.read_write().access_key;
    client.env["AWS_SECRET_ACCESS_KEY"] = cluster.read_write().secret_key;
    client.run({"init"});
    fs::create_directories(dir->path() / "files");
    REQUIRE(util::atomic_write((dir->path() / "files/a").string(), "hello\n", 0644));
    client.run({"backup", "-q", (dir->path() / "files").string()});
    server.start();
    server.enable("web1");
    // backup-syncd lists the bucket, hands the snapshot to restic-replicate, which copies the
    // repository from the store (read-only key) into the local replica.
    fs::path replica = replicas / "web1";
    auto replica_snapshots = [&] {
        auto ids = core::list_snapshot_ids(replica / "snapshots");
        return ids ? ids->size() : std::size_t{0};
    };
    std::pair<int, util::Json> status;
    bool ok = wait_until(
        [&] {
            status = remote.status("web1");
            return replica_snapshots() == 1 && status.second["state"] == "ok" &&
                   status.second["destinations"].dump().find("\"ok\"") != std::string::npos;
        },
        60s);
    INFO(status.second.dump(2));
    REQUIRE(ok);
    CHECK(status.second["snapshots"] == 1);
    // The same directory: the client's password file.
    auto checker = make_restic_client(dir->path() / "client", replica.string());
    auto check = checker.run({"check", "--read-data"});
    CHECK(check.out.find("no errors were found") != std::string::npos);
    server.disable("web1");
    server.tree().stop();
    require_no_processes(dir->path());
}
