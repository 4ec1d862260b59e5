// backup-status over provisioned servers under a real runsvdir with real storage servers: every
// state a client can be in, the shared instances' rows, and an exit code that is 0 exactly when
// nothing needs a person.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "support/backup_server.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct StatusRun {
    int exit_code = -1;
    util::Json json;
    std::string table;
};

StatusRun run_status(const BackupServer& server) {
    std::vector<std::string> argv = {(fs::path(tools_dir()) / "backup-status").string(), "-c",
                                     server.config_file().string()};
    std::vector<std::string> json_argv = argv;
    json_argv.push_back("--json");
    // The table and the JSON are two runs: a service that starts or stops between them changes
    // the exit code. They must agree on a state that holds still: run both again until they do.
    auto deadline = Clock::now() + 30s;
    while (true) {
        StatusRun run;
        auto table = run_cmd(argv, base_environment());
        run.table = table.out + table.err;
        auto json = run_cmd(json_argv, base_environment());
        run.exit_code = json.exit_code();
        if (json.exit_code() == table.exit_code() || Clock::now() > deadline) {
            INFO(json.out << json.err);
            REQUIRE(json.exit_code() == table.exit_code());
            run.json = util::Json::parse(json.out);
            return run;
        }
    }
}

// backup-status until done(run) holds, for services that runit is still starting or stopping;
// fails the test with the last run after timeout.
StatusRun status_until(const BackupServer& server,
                       const std::function<bool(const StatusRun&)>& done, const std::string& what,
                       std::chrono::seconds timeout = 60s) {
    auto deadline = Clock::now() + timeout;
    while (true) {
        auto run = run_status(server);
        if (done(run)) {
            return run;
        }
        if (Clock::now() > deadline) {
            FAIL("backup-status never showed " << what << ":\n" << run.table);
        }
        std::this_thread::sleep_for(200ms);
    }
}

util::Json client_of(const util::Json& status, const std::string& host) {
    for (const auto& c : status["clients"]) {
        if (c["host"] == host) {
            return c;
        }
    }
    FAIL("no client " << host << " in the JSON");
    return {};
}

std::string state_of(const StatusRun& run, const std::string& host) {
    for (const auto& c : run.json["clients"]) {
        if (c["host"] == host) {
            return c["state"];
        }
    }
    return "(missing)";
}

bool has_problem(const util::Json& row, const std::string& kind) {
    for (const auto& p : row["problems"]) {
        if (p["kind"] == kind) {
            return true;
        }
    }
    return false;
}

bool services_up(const util::Json& client) {
    for (const auto& s : client["services"]) {
        if (s["up"] != true) {
            return false;
        }
    }
    return !client["services"].empty();
}

// The table's line for host.
std::string line_of(const StatusRun& run, const std::string& host) {
    auto at = run.table.find("\n" + host + " ");
    REQUIRE(at != std::string::npos);
    return run.table.substr(at + 1, run.table.find('\n', at + 1) - at - 1);
}

} // namespace

TEST_CASE("backup-status: every state of a dedicated client, each row kept, exit 1 only for "
          "what needs a person",
          "[backup-status]") {
    auto dir = util::TempDir::create_in_tmp("e2e-status");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        for (const auto* host : {"fresh", "stale", "failing", "off", "new", "broken"}) {
            server.provision(host, "rest-server");
        }
        server.start();
        for (const auto* host : {"fresh", "stale", "failing", "new", "broken"}) {
            server.enable(host);
        }
        // The failing client replicates to a good and to a broken destination.
        auto failing_config = server.client_config("failing");
        // restic-replicate never creates a destination's top directory; it runs as the
        // client's own user.
        fs::create_directories(dir->path() / "replica");
        const passwd* owner = ::getpwnam(failing_config.owner_user.c_str());
        REQUIRE(owner != nullptr);
        REQUIRE(::chown((dir->path() / "replica").c_str(), owner->pw_uid, owner->pw_gid) == 0);
        failing_config.destinations = {{"disk2", dir->path() / "replica", ""},
                                       {"broken", "/proc/self/no-such-dir/replica", ""}};
        REQUIRE(util::atomic_write((server.client_dir("failing") / "conf/client.yaml").string(),
                                   core::render_client_config(failing_config), 0644));
        for (const auto* host : {"fresh", "stale", "failing"}) {
            server.wait_for_storage(host);
        }
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto* host : {"fresh", "stale", "failing"}) {
            auto client = server.client(host);
            client.run({"init"});
            client.run({"backup", source.string()});
        }
        age_snapshots(server.client_config("stale").repository, 30 * 3600);
        // A destination added by hand after the last sync, and a client.yaml broken by hand.
        auto fresh_config = server.client_config("fresh");
        auto synced = [&](const std::string& host) {
            auto j = util::read_json_file(
                (server.client_dir(host) / "state/backup-syncd-status.json").string());
            return j && ((*j)["last_success"].is_string() ||
                         (*j)["consecutive_failures"].get<int>() > 0);
        };
        auto run = status_until(
            server,
            [&](const StatusRun& r) {
                return synced("fresh") && synced("failing") &&
                       services_up(client_of(r.json, "fresh")) &&
                       services_up(client_of(r.json, "new"));
            },
            "the syncs done and the services up");
        fresh_config.destinations = {{"later", dir->path() / "later", ""}};
        REQUIRE(util::atomic_write((server.client_dir("fresh") / "conf/client.yaml").string(),
                                   core::render_client_config(fresh_config), 0644));
        fs::path broken_yaml = server.client_dir("broken") / "conf/client.yaml";
        auto broken_text = util::read_file(broken_yaml.string());
        REQUIRE(broken_text);
        REQUIRE(
            // A YAML error whose message holds an incomplete UTF-8 sequence (a Latin-1 'é' after
            // a backslash): it must not cost the other clients their report.
            util::atomic_write(broken_yaml.string(), "schema: 1\nhost: broken\nbad: \"\\\xe9\"\n",
                               0644));

        run = run_status(server);
        INFO(run.table);
        CHECK(run.exit_code == 1);
        CHECK(run.table.find("\033[") == std::string::npos); // no colour when not a terminal
        CHECK(state_of(run, "fresh") == "ok");
        CHECK(state_of(run, "stale") == "stale");
        CHECK(state_of(run, "failing") == "failing");
        CHECK(state_of(run, "off") == "disabled");
        CHECK(state_of(run, "new") == "new");
        CHECK(state_of(run, "broken") == "error");
        CHECK(line_of(run, "fresh").ends_with(" ok"));
        CHECK(line_of(run, "stale").find("stale: newest snapshot") != std::string::npos);
        CHECK(line_of(run, "failing").find("destination broken failed") != std::string::npos);
        CHECK(line_of(run, "off").find(" off ") != std::string::npos);
        CHECK(line_of(run, "off").ends_with(" ok"));
        // Before `restic init`: nothing is failing, its watcher waits.
        CHECK(line_of(run, "new").ends_with(" ok"));
        CHECK(line_of(run, "broken").find("client.yaml") != std::string::npos);

        const auto& status = run.json;
        CHECK(status["schema"] == 2);
        CHECK(status["healthy"] == false);
        CHECK(status["clients"].size() == 6);
        auto fresh = client_of(status, "fresh");
        CHECK(fresh["ok"] == true);
        CHECK(fresh["snapshots"] == 1);
        REQUIRE(fresh["services"].size() == 3);
        CHECK(fresh["services"][0]["name"] == "runsvdir");
        REQUIRE(fresh["destinations"].size() == 1);
        CHECK(fresh["destinations"][0]["name"] == "later");
        CHECK(fresh["destinations"][0]["state"] == "never");
        CHECK(line_of(run, "fresh").find("later:never") != std::string::npos);
        auto failing = client_of(status, "failing");
        REQUIRE(failing["destinations"].size() == 2);
        CHECK(failing["destinations"][0]["state"] == "ok");
        CHECK(failing["destinations"][1]["state"] != "ok");
        CHECK(failing["destinations"][1]["missing_snapshots"] == 1);
        CHECK(has_problem(failing, "destination-failing"));
        CHECK(has_problem(client_of(status, "stale"), "stale"));
        CHECK(client_of(status, "new")["initialised"] == false);
        CHECK(has_problem(client_of(status, "broken"), "config"));
        REQUIRE(status["filesystems"].size() == 1);
        CHECK(status["filesystems"][0]["clients"].size() == 5); // not the broken one
        CHECK(status["capacity_recorded"] == true);

        fs::path prom = dir->path() / "backup.prom";
        auto prom_run = run_cmd({(fs::path(tools_dir()) / "backup-status").string(), "-c",
                                 server.config_file().string(), "--prometheus", prom.string()},
                                base_environment());
        CHECK(prom_run.exit_code() == 1);
        auto text = util::read_file(prom.string());
        REQUIRE(text);
        CHECK(text->find("restic_backup_stale{client=\"stale\"} 1") != std::string::npos);
        CHECK(text->find("restic_backup_client_state{client=\"new\",state=\"new\"} 1") !=
              std::string::npos);
        CHECK(text->find(
                  "restic_backup_destination_ok{client=\"failing\",destination=\"broken\"} 0") !=
              std::string::npos);
        CHECK(text->find("restic_backup_client_enabled{client=\"off\"} 0") != std::string::npos);
        CHECK(text->find("restic_backup_healthy 0") != std::string::npos);

        // Healthy once what needs a person is dealt with; new and disabled clients are not.
        server.disable("stale");
        server.disable("failing");
        server.disable("broken");
        auto healthy = status_until(
            server,
            [](const StatusRun& r) {
                return state_of(r, "stale") == "disabled" && state_of(r, "failing") == "disabled";
            },
            "stale and failing disabled");
        REQUIRE(util::atomic_write(broken_yaml.string(), *broken_text, 0644));
        healthy = run_status(server);
        INFO(healthy.table);
        CHECK(healthy.exit_code == 0);
        CHECK(healthy.json["healthy"] == true);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-status: a state directory the services cannot write is a problem, even though "
          "the last status in it says ok",
          "[backup-status]") {
    auto dir = util::TempDir::create_in_tmp("e2e-status-state");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        server.provision("web1", "rest-server");
        server.start();
        server.enable("web1");
        server.wait_for_storage("web1");
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        auto client = server.client("web1");
        client.run({"init"});
        client.run({"backup", source.string()});
        status_until(
            server, [](const StatusRun& r) { return state_of(r, "web1") == "ok"; }, "web1 ok");

        // What a remount read-only or a careless chmod does: the daemons' last words stay.
        fs::path state = server.client_dir("web1") / "state";
        REQUIRE(::chmod(state.c_str(), 0555) == 0);
        auto run = run_status(server);
        INFO(run.table);
        CHECK(run.exit_code == 1);
        CHECK(state_of(run, "web1") == "failing");
        auto web1 = client_of(run.json, "web1");
        CHECK(has_problem(web1, "state-file"));
        CHECK(web1["problems"].dump().find("is not writable by " +
                                           server.client_config("web1").owner_user) !=
              std::string::npos);

        REQUIRE(::chmod(state.c_str(), 0700) == 0);
        run = run_status(server);
        CHECK(run.exit_code == 0);
        CHECK(state_of(run, "web1") == "ok");
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-status: a shared instance that is down makes its clients failing, a disabled "
          "shared client is disabled",
          "[backup-status][shared]") {
    auto dir = util::TempDir::create_in_tmp("e2e-status-shared");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), "topology: shared\n");
        server.start();
        for (const auto* host : {"sh-a", "sh-b", "sh-off"}) {
            server.provision(host, "versitygw");
            server.enable(host);
        }
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto* host : {"sh-a", "sh-b"}) {
            server.wait_for_storage(host);
            auto client = server.client(host);
            client.run({"init"});
            client.run({"backup", source.string()});
        }
        auto off = server.new_restic_server({"-H", "sh-off", "--disable"});
        INFO(off.out << off.err);
        REQUIRE(off.success());
        auto run = status_until(
            server,
            [](const StatusRun& r) {
                return r.exit_code == 0 && services_up(client_of(r.json, "sh-a")) &&
                       services_up(client_of(r.json, "sh-b"));
            },
            "every shared client ok");
        INFO(run.table);
        CHECK(state_of(run, "sh-a") == "ok");
        CHECK(state_of(run, "sh-off") == "disabled");
        CHECK(client_of(run.json, "sh-off")["access_disabled"] == true);
        REQUIRE(run.json["instances"].size() == 1);
        CHECK(run.json["instances"][0]["kind"] == "versitygw");
        CHECK(run.json["instances"][0]["clients"] == 3);
        CHECK(run.json["instances"][0]["ok"] == true);
        CHECK(run.table.find("\nSHARED ") != std::string::npos);

        // The shared gateway stopped: every client on it is failing, and the exit code says so.
        auto sv = run_cmd({"sv", "-w", "30", "down", server.shared_service("versitygw").string()},
                          base_environment());
        INFO(sv.out << sv.err);
        REQUIRE(sv.success());
        auto down = status_until(
            server, [](const StatusRun& r) { return r.json["instances"][0]["ok"] == false; },
            "the shared instance down", 30s);
        INFO(down.table);
        CHECK(down.exit_code == 1);
        for (const auto* host : {"sh-a", "sh-b"}) {
            CHECK(state_of(down, host) == "failing");
            CHECK(has_problem(client_of(down.json, host), "instance-down"));
        }
        CHECK(state_of(down, "sh-off") == "disabled");
        CHECK(has_problem(down.json["instances"][0], "instance-down"));

        auto up = run_cmd({"sv", "-w", "30", "up", server.shared_service("versitygw").string()},
                          base_environment());
        REQUIRE(up.success());
        status_until(
            server, [](const StatusRun& r) { return r.exit_code == 0; }, "all well again", 30s);
    }
    require_no_processes(dir->path());
}
