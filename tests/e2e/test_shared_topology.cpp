// The shared topology: one storage server instance per kind, a user per client, provisioned
// with the real new-restic-server, supervised by a real top-level runsvdir, used by real restic;
// isolation and denials proved by protocol-level probes (restic retries refused credentials for
// minutes).
#include "model/runit.hpp"
#include "support/access.hpp"
#include "support/backup_server.hpp"
#include "util/json.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

const std::string k_shared_config = "topology: shared\n";

pid_t shared_pid(const BackupServer& server, const std::string& kind) {
    auto s = core::read_supervise_status(server.shared_service(kind));
    INFO((s ? std::string() : s.error().message()));
    REQUIRE(s);
    REQUIRE(s->state == core::ServiceState::run);
    return s->pid;
}

// Provisions hosts on the shared instance of kind, enables them, and backs each one up once.
void provision_and_back_up(BackupServer& server, const std::string& kind,
                           const std::vector<std::string>& hosts, const fs::path& source) {
    for (const auto& host : hosts) {
        auto config = server.provision(host, kind);
        CHECK(config.topology == core::Topology::shared);
        server.enable(host);
    }
    for (const auto& host : hosts) {
        server.wait_for_storage(host);
        auto client = server.client(host);
        client.run({"init"});
        client.run({"backup", source.string()});
    }
}

// The probes with from's credentials against target, retried until want_success says the
// read probe's outcome is as wanted (rest-server re-reads its htpasswd on HUP, asynchronously).
std::vector<AccessAttempt> read_probe_until(const BackupServer& server, const Environment& from,
                                            const std::string& target, const fs::path& work,
                                            bool want_success) {
    auto config = server.client_config(target);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (true) {
        auto probe = client_attempts(from, config, work, Probes::read_only);
        if (attempt_named(probe, "read").succeeded == want_success ||
            std::chrono::steady_clock::now() > deadline) {
            return probe;
        }
        std::this_thread::sleep_for(200ms);
    }
}

bool is_auth_failure(const core::ClientConfig& config, const AccessAttempt& attempt) {
    if (config.kind == core::ServerKind::versitygw) {
        return attempt.detail.find("403") != std::string::npos ||
               attempt.detail.find("SignatureDoesNotMatch") != std::string::npos ||
               attempt.detail.find("InvalidAccessKeyId") != std::string::npos;
    }
    return attempt.detail == "HTTP 401";
}

void three_clients_isolated(const std::string& kind, const std::string& prefix) {
    auto dir = util::TempDir::create_in_tmp("e2e-shared");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), k_shared_config);
        server.start();
        std::vector<std::string> hosts = {prefix + "-a", prefix + "-b", prefix + "-c"};
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        provision_and_back_up(server, kind, hosts, source);

        // One instance, one port; each repository in the shared data directory; each client's
        // own tree runs backup-syncd only.
        auto first = server.client_config(hosts[0]);
        for (const auto& host : hosts) {
            auto config = server.client_config(host);
            CHECK(config.port == first.port);
            CHECK(config.repository.parent_path() == server.shared_dir(kind) / "data");
            int files = 0;
            auto problems = verify_repository_files(config.repository, &files);
            CHECK(problems.empty());
            CHECK(files >= 5);
            std::vector<std::string> services;
            for (const auto& e : fs::directory_iterator(server.client_dir(host) / "conf/runsvs")) {
                services.push_back(e.path().filename().string());
            }
            CHECK(services == std::vector<std::string>{"backup-syncd"});
            auto snapshots = server.client(host).run({"snapshots", "--json"});
            CHECK(util::Json::parse(snapshots.out).size() == 1);
        }
        CHECK(fs::is_symlink(server.scan_dir() / ("_shared-" + kind)));
        auto secrets_mode = fs::status(server.shared_dir(kind) / "secrets").permissions();
        CHECK((secrets_mode & fs::perms::all) == fs::perms::owner_all);

        // The probes can succeed: each client reads its own repository.
        for (const auto& host : hosts) {
            INFO(host << " against itself");
            auto own = client_attempts(server.client(host).env, server.client_config(host),
                                       dir->path(), Probes::read_only);
            CHECK(attempt_named(own, "read").succeeded);
            CHECK(attempt_named(own, "list").succeeded);
        }
        for (const auto& a : hosts) {
            for (const auto& b : hosts) {
                if (a == b) {
                    continue;
                }
                INFO(a << " against " << b);
                auto probe =
                    client_attempts(server.client(a).env, server.client_config(b), dir->path());
                CHECK(probe.size() >= 5);
                INFO(successful(probe));
                CHECK(successful(probe).empty());
            }
        }
        for (const auto& host : hosts) {
            auto snapshots = server.client(host).run({"snapshots", "--json"});
            CHECK(util::Json::parse(snapshots.out).size() == 1);
            CHECK(server.client(host).try_run({"check"}).success());
        }

        // No secret on any command line of the running tree, the shared root keys included.
        std::vector<std::string> secrets;
        for (const auto& host : hosts) {
            auto s = server.secrets_of(host);
            secrets.insert(secrets.end(), s.begin(), s.end());
        }
        fs::path env = server.shared_dir(kind) / "secrets/versitygw.env";
        if (fs::exists(env)) {
            for (const auto* name : {"ROOT_ACCESS_KEY_ID", "ROOT_SECRET_ACCESS_KEY"}) {
                auto key = util::read_file((env / name).string());
                REQUIRE(key);
                secrets.push_back(key->substr(0, key->find('\n')));
            }
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
        CHECK(checked >= 8);
    }
    require_no_processes(dir->path());
}

void disable_and_enable(const std::string& kind, const std::string& prefix) {
    auto dir = util::TempDir::create_in_tmp("e2e-shared");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), k_shared_config);
        server.start();
        std::string a = prefix + "-a", b = prefix + "-b";
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        provision_and_back_up(server, kind, {a, b}, source);
        pid_t pid = shared_pid(server, kind);
        auto a_env = server.client(a).env;
        auto a_config = server.client_config(a);

        auto r = server.new_restic_server({"-H", a, "--disable"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        auto refused = read_probe_until(server, a_env, a, dir->path(), false);
        INFO(successful(refused));
        CHECK(successful(refused).empty());
        CHECK(is_auth_failure(a_config, attempt_named(refused, "read")));
        // The others keep working, on the same process.
        server.client(b).run({"backup", source.string()});
        CHECK(shared_pid(server, kind) == pid);
        // Disabled twice is still disabled; removing needs the link gone too.
        CHECK(server.new_restic_server({"-H", a, "--disable"}).success());
        auto still = server.new_restic_server({"-H", a, "--remove"});
        CHECK(still.exit_code() == 100);

        r = server.new_restic_server({"-H", a, "--enable"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        auto back = read_probe_until(server, a_env, a, dir->path(), true);
        CHECK(attempt_named(back, "read").succeeded);
        auto client = server.client(a);
        auto check = client.try_run({"check", "--read-data"});
        INFO(check.out << check.err);
        CHECK(check.success());
        client.run({"backup", source.string()});
        auto snapshots = client.run({"snapshots", "--json"});
        CHECK(util::Json::parse(snapshots.out).size() == 2);
        CHECK(shared_pid(server, kind) == pid);

        // A dedicated client has no such switch.
        server.provision(prefix + "-ded", kind, {"--topology", "dedicated"});
        auto ded = server.new_restic_server({"-H", prefix + "-ded", "--disable"});
        CHECK(ded.exit_code() == 100);
        CHECK(ded.err.find("dedicated") != std::string::npos);
    }
    require_no_processes(dir->path());
}

void rotate_keys(const std::string& kind, const std::string& prefix) {
    auto dir = util::TempDir::create_in_tmp("e2e-shared");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), k_shared_config);
        server.start();
        std::string a = prefix + "-a", b = prefix + "-b";
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        provision_and_back_up(server, kind, {a, b}, source);
        pid_t pid = shared_pid(server, kind);
        auto old_client = server.client(a);
        auto r = server.new_restic_server({"-H", a, "--rotate-keys"});
        INFO(r.out << r.err);
        REQUIRE(r.success());
        auto config = server.client_config(a);
        auto old_probe = read_probe_until(server, old_client.env, a, dir->path(), false);
        INFO(successful(old_probe));
        CHECK(successful(old_probe).empty());
        CHECK(is_auth_failure(config, attempt_named(old_probe, "read")));
        auto new_client = server.client(a);
        CHECK(new_client.env != old_client.env);
        auto new_probe = client_attempts(new_client.env, config, dir->path(), Probes::read_only);
        CHECK(attempt_named(new_probe, "read").succeeded);
        new_client.run({"backup", source.string()});
        CHECK(new_client.try_run({"check"}).success());
        // The other client and the server process are untouched.
        server.client(b).run({"backup", source.string()});
        CHECK(shared_pid(server, kind) == pid);
    }
    require_no_processes(dir->path());
}

void remove_while_serving(const std::string& kind, const std::string& prefix) {
    auto dir = util::TempDir::create_in_tmp("e2e-shared");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), k_shared_config);
        server.start();
        std::string a = prefix + "-a", b = prefix + "-b", c = prefix + "-c";
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        provision_and_back_up(server, kind, {a, b, c}, source);
        pid_t pid = shared_pid(server, kind);
        auto a_env = server.client(a).env;
        auto a_config = server.client_config(a);

        // Backups of b and c in a loop while a is disabled, unlinked and removed.
        std::atomic<bool> done{false};
        std::vector<std::pair<std::string, ProcessResult>> results;
        // Catch2's assertions are not thread-safe: the thread only runs and records.
        auto clients = std::vector<std::pair<std::string, ResticClient>>{{b, server.client(b)},
                                                                         {c, server.client(c)}};
        std::thread loop([&] {
            int rounds = 0;
            while (!done || rounds < 2) {
                for (const auto& [host, client] : clients) {
                    results.emplace_back(host, client.try_run({"backup", source.string()}));
                }
                ++rounds;
            }
        });
        auto r1 = server.new_restic_server({"-H", a, "--disable"});
        auto service_pids = processes_using(server.client_dir(a));
        server.disable(a);
        for (pid_t p : service_pids) {
            CHECK(wait_for_pid_exit(p, 30s));
        }
        auto r2 = server.new_restic_server({"-H", a, "--remove"});
        done = true;
        loop.join();
        INFO(r1.out << r1.err << r2.out << r2.err);
        REQUIRE(r1.success());
        REQUIRE(r2.success());
        CHECK(results.size() >= 4);
        for (const auto& [host, result] : results) {
            INFO(host << ": " << result.err);
            CHECK(result.success());
        }
        CHECK(shared_pid(server, kind) == pid);

        // a is gone: its directory, its repository in the shared data, its credentials; its data
        // is kept.
        CHECK_FALSE(fs::exists(server.client_dir(a)));
        CHECK_FALSE(fs::exists(a_config.repository));
        bool kept = false;
        for (const auto& e : fs::directory_iterator(server.root() / "systems/removed")) {
            if (e.path().filename().string().starts_with(a + "-")) {
                kept = fs::exists(e.path() / "data" / a_config.repository.filename() / "config");
                CHECK_FALSE(fs::exists(e.path() / "secrets"));
            }
        }
        CHECK(kept);
        auto probe = client_attempts(a_env, a_config, dir->path(), Probes::read_only);
        INFO(successful(probe));
        CHECK(successful(probe).empty());
        for (const auto& host : {b, c}) {
            auto snapshots = server.client(host).run({"snapshots", "--json"});
            CHECK(util::Json::parse(snapshots.out).size() >= 3);
        }
        // The name is free again, on the same shared instance.
        auto again = server.provision(a, kind);
        CHECK(again.port == a_config.port);
    }
    require_no_processes(dir->path());
}

} // namespace

TEST_CASE("shared: versitygw: three clients back up and are isolated", "[shared]") {
    three_clients_isolated("versitygw", "vgw");
}
TEST_CASE("shared: rest-server: three clients back up and are isolated", "[shared]") {
    three_clients_isolated("rest-server", "rest");
}
TEST_CASE("shared: versitygw: a disabled client is refused, enabling restores it", "[shared]") {
    disable_and_enable("versitygw", "vgw");
}
TEST_CASE("shared: rest-server: a disabled client is refused, enabling restores it", "[shared]") {
    disable_and_enable("rest-server", "rest");
}
TEST_CASE("shared: versitygw: rotated keys replace the old ones without a restart", "[shared]") {
    rotate_keys("versitygw", "vgw");
}
TEST_CASE("shared: rest-server: rotated keys replace the old ones without a restart", "[shared]") {
    rotate_keys("rest-server", "rest");
}
TEST_CASE("shared: versitygw: removing a client while the others back up", "[shared]") {
    remove_while_serving("versitygw", "vgw");
}
TEST_CASE("shared: rest-server: removing a client while the others back up", "[shared]") {
    remove_while_serving("rest-server", "rest");
}
