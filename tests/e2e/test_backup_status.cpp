// backup-status over a provisioned server under a real runsvdir, with one client stale, one
// with a failing replication destination and one disabled.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "support/backup_server.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

util::Json client_of(const util::Json& status, const std::string& host) {
    for (const auto& c : status["clients"]) {
        if (c["host"] == host) {
            return c;
        }
    }
    FAIL("no client " << host << " in the JSON");
    return {};
}

} // namespace

TEST_CASE("backup-status shows stale, failing and disabled clients and says so in its exit code",
          "[backup-status]") {
    auto dir = util::TempDir::create_in_tmp("e2e-status");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        for (const auto* host : {"fresh", "stale", "failing", "off"}) {
            server.provision(host, "rest-server");
        }
        server.start();
        for (const auto* host : {"fresh", "stale", "failing"}) {
            server.enable(host);
        }
        for (const auto* host : {"fresh", "stale", "failing"}) {
            server.wait_for_storage(host);
        }
        // The failing client replicates to a good and to a broken destination.
        auto failing_config = server.client_config("failing");
        // restic-replicate never creates a destination's top directory; it runs as nobody.
        fs::create_directories(dir->path() / "replica");
        REQUIRE(::chown((dir->path() / "replica").c_str(), 65534, 65534) == 0);
        failing_config.destinations = {{"disk2", dir->path() / "replica", ""},
                                       {"broken", "/proc/self/no-such-dir/replica", ""}};
        REQUIRE(util::atomic_write((server.client_dir("failing") / "conf/client.yaml").string(),
                                   core::render_client_config(failing_config), 0644));
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto* host : {"fresh", "stale", "failing"}) {
            auto client = server.client(host);
            client.run({"init"});
            client.run({"backup", source.string()});
        }
        // An old backup: the snapshot file's time is what backup-status reads.
        for (const auto& e :
             fs::directory_iterator(server.client_config("stale").repository / "snapshots")) {
            timespec times[2];
            times[0].tv_sec = times[1].tv_sec = std::time(nullptr) - 30 * 3600;
            times[0].tv_nsec = times[1].tv_nsec = 0;
            REQUIRE(::utimensat(AT_FDCWD, e.path().c_str(), times, 0) == 0);
        }
        // Wait for backup-syncd and restic-replicate to have run for each.
        auto synced = [&](const std::string& host) {
            auto j = util::read_json_file(
                (server.client_dir(host) / "state/backup-syncd-status.json").string());
            return j && ((*j)["last_success"].is_number() ||
                         (*j)["consecutive_failures"].get<int>() > 0);
        };
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline &&
               !(synced("fresh") && synced("stale") && synced("failing") &&
                 fs::exists(server.client_dir("failing") / "state/replicate-status.json"))) {
            std::this_thread::sleep_for(200ms);
        }
        // Services need a moment to be reported up by runsv.
        std::this_thread::sleep_for(2s);
        std::vector<std::string> argv = {(fs::path(tools_dir()) / "backup-status").string(),
                                         "--root", server.root().string()};
        auto table = run_cmd(argv, base_environment());
        INFO(table.out << table.err);
        CHECK(table.exit_code() == 1);
        CHECK(table.out.find("\033[") == std::string::npos); // no colour when not a terminal
        auto line_of = [&](const std::string& host) {
            auto at = table.out.find("\n" + host + " ");
            REQUIRE(at != std::string::npos);
            return table.out.substr(at + 1, table.out.find('\n', at + 1) - at - 1);
        };
        CHECK(line_of("fresh").ends_with(" ok"));
        CHECK(line_of("stale").find("stale") != std::string::npos);
        CHECK(line_of("failing").find("destination broken") != std::string::npos);
        CHECK(line_of("off").find("disabled") != std::string::npos);
        CHECK(line_of("off").ends_with(" ok"));

        argv.push_back("--json");
        fs::path prom = dir->path() / "backup.prom";
        argv.push_back("--prometheus");
        argv.push_back(prom.string());
        auto json_run = run_cmd(argv, base_environment());
        CHECK(json_run.exit_code() == 1);
        auto status = util::Json::parse(json_run.out);
        CHECK(status["schema"] == 1);
        CHECK(status["healthy"] == false);
        CHECK(status["clients"].size() == 4);
        auto fresh = client_of(status, "fresh");
        CHECK(fresh["ok"] == true);
        CHECK(fresh["enabled"] == true);
        CHECK(fresh["snapshots"] == 1);
        for (const auto& s : fresh["services"]) {
            CHECK(s["up"] == true);
        }
        CHECK(fresh["services"].size() == 3); // its tree, rest-server, backup-syncd
        auto stale = client_of(status, "stale");
        CHECK(stale["stale"] == true);
        CHECK(stale["ok"] == false);
        auto failing = client_of(status, "failing");
        CHECK(failing["stale"] == false);
        REQUIRE(failing["destinations"].size() == 2);
        CHECK(failing["destinations"][0]["state"] == "ok");
        CHECK(failing["destinations"][1]["state"] != "ok");
        CHECK(failing["destinations"][1]["missing_snapshots"] == 1);
        CHECK(failing["ok"] == false);
        auto off = client_of(status, "off");
        CHECK(off["enabled"] == false);
        CHECK(off["ok"] == true);

        auto text = util::read_file(prom.string());
        REQUIRE(text);
        CHECK(text->find("restic_backup_stale{client=\"stale\"} 1") != std::string::npos);
        CHECK(text->find(
                  "restic_backup_destination_ok{client=\"failing\",destination=\"broken\"} 0") !=
              std::string::npos);
        CHECK(text->find("restic_backup_client_enabled{client=\"off\"} 0") != std::string::npos);

        // Healthy once the problems are gone.
        server.disable("stale");
        server.disable("failing");
        std::this_thread::sleep_for(8s);
        fs::remove(server.client_dir("failing") / "state/replicate-status.json");
        fs::remove(server.client_dir("failing") / "state/backup-syncd-status.json");
        auto healthy = run_cmd(
            {(fs::path(tools_dir()) / "backup-status").string(), "--root", server.root().string()},
            base_environment());
        INFO(healthy.out);
        CHECK(healthy.exit_code() == 0);
    }
    require_no_processes(dir->path());
}
