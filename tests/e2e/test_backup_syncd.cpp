// backup-syncd under a real runsvdir, watching a repository that real restic writes through a
// real rest-server.
#include <catch2/catch.hpp>

#include <csignal>
#include <functional>
#include <thread>

#include "model/repository.hpp"
#include "state/snapshot_ids.hpp"
#include "state/syncd_status.hpp"
#include "support/backup_server.hpp"
#include "support/fixtures.hpp"
#include "support/syncd_recorder.hpp"
#include "util/json.hpp"
#include "util/time.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A repository on a rest-server, a client for it, and backup-syncd under runsvdir running the
// recorder.
class SyncdHarness : public Recorder {
public:
    explicit SyncdHarness(const fs::path& work, const std::string& recorder_body = "exit 0",
                          const std::string& extra_flags = "")
        : Recorder(work, recorder_body), m_server(work, {{"web1", "pw-web1"}}),
          m_client(make_restic_client(work / "client", "rest:" + m_server.endpoint() + "/web1/")),
          m_tree(work / "runit") {
        m_client.env["RESTIC_REST_USERNAME"] = "web1";
        m_client.env["RESTIC_REST_PASSWORD"] = "pw-web1";
        m_client.run({"init"});
        std::string run = fmt::format(
            "#!/bin/sh\nexec >>{log} 2>&1\nexec {syncd} --client web1 --watchdir {watch} "
            "--state-dir {state} --script '{recorder}' --loopdelay 2 {extra}\n",
            fmt::arg("log", log_file().string()),
            fmt::arg("syncd", (fs::path(tools_dir()) / "backup-syncd").string()),
            fmt::arg("watch", watch_dir().string()), fmt::arg("state", state_dir().string()),
            fmt::arg("recorder", recorder_path().string()),
            fmt::arg("extra", extra_flags.find("--settle") == std::string::npos
                                  ? "--settle 0.2 " + extra_flags
                                  : extra_flags));
        m_tree.add_service("backup-syncd", run);
        m_tree.wait_until_up("backup-syncd", 20s);
    }

    fs::path watch_dir() const { return m_server.data_dir() / "web1" / "snapshots"; }
    fs::path service() const { return m_tree.scan_dir() / "backup-syncd"; }
    const ResticClient& client() const { return m_client; }
    RunsvdirTree& tree() { return m_tree; }
    std::string backup() { return Recorder::backup(m_client); }

    void sv(const std::string& command) {
        auto r = run_cmd({require_program("sv"), "-w", "20", command, service().string()},
                         base_environment());
        INFO(r.out << r.err);
        REQUIRE(r.success());
    }

private:
    RestServer m_server;
    ResticClient m_client;
    RunsvdirTree m_tree;
};

} // namespace

TEST_CASE("backup-syncd: a backup runs the sync with its ID, a forget with the ID gone",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        SyncdHarness h(dir->path());
        auto id = h.backup();
        auto start = Clock::now();
        auto runs = h.wait_for_runs(1, 20s);
        CHECK(Clock::now() - start < 5s);
        CHECK(runs[0].appeared == std::vector<std::string>{id});
        CHECK(runs[0].gone.empty());
        auto env = util::read_file((runs[0].dir / "env").string());
        CHECK(env.value_or("").starts_with("web1 "));

        h.client().run({"forget", id});
        runs = h.wait_for_runs(2, 20s);
        CHECK(runs[1].appeared.empty());
        CHECK(runs[1].gone == std::vector<std::string>{id});
        // Nothing else happens: no run without a change.
        std::this_thread::sleep_for(3s);
        CHECK(h.runs().size() == 2);
        auto status = status_of(h.state_dir());
        CHECK(status["consecutive_failures"] == 0);
        CHECK(status["last_result"] == "ok");
        CHECK(status["schema"] == core::k_syncd_status_schema);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: a new snapshot starts a run at once, a forget of several gives one run",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        SyncdHarness h(dir->path(), "exit 0", "--settle 10");
        std::vector<std::string> ids;
        for (std::size_t i = 1; i <= 3; ++i) {
            ids.push_back(h.backup());
            double made = now_seconds();
            auto runs = h.wait_for_runs(i, 20s);
            // Not held back by the settle time: the snapshot file is complete when it appears.
            CHECK(runs.back().started - made < 5);
            CHECK(runs.back().appeared == std::vector<std::string>{ids.back()});
        }
        std::vector<std::string> forget = {"forget"};
        forget.insert(forget.end(), ids.begin(), ids.end());
        h.client().run(forget);
        auto runs = h.wait_for_runs(4, 40s);
        std::sort(ids.begin(), ids.end());
        auto gone = runs[3].gone;
        std::sort(gone.begin(), gone.end());
        CHECK(gone == ids);
        CHECK(runs[3].appeared.empty());
        // The whole forget is one run (here started by the full listing every 2 s, which does
        // not wait for the settle time).
        CHECK(h.runs().size() == 4);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: snapshots made while it was down are synced once after a restart",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        SyncdHarness h(dir->path());
        auto first = h.backup();
        h.wait_for_runs(1, 20s);
        h.sv("down");
        auto a = h.backup();
        auto b = h.backup();
        std::this_thread::sleep_for(1s);
        CHECK(h.runs().size() == 1);
        h.sv("up");
        auto runs = h.wait_for_runs(2, 20s);
        auto appeared = runs[1].appeared;
        std::sort(appeared.begin(), appeared.end());
        std::vector<std::string> expected = {a, b};
        std::sort(expected.begin(), expected.end());
        CHECK(appeared == expected);
        CHECK(runs[1].gone.empty());

        h.sv("restart");
        std::this_thread::sleep_for(4s); // more than a full listing interval
        CHECK(h.runs().size() == 2);
        (void)first;
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: a failing sync is retried with growing delays and merged changes",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        // Fails on the first two runs, succeeds on the third.
        SyncdHarness h(
            dir->path(),
            fmt::format("[ $(ls {} | wc -l) -ge 3 ] || exit 1", (dir->path() / "runs").string()),
            "--retry-min 1 --retry-max 30");
        auto a = h.backup();
        auto runs = h.wait_for_runs(1, 20s);
        // State does not advance on failure.
        auto state = util::read_json_file((h.state_dir() / "backup-syncd.json").string());
        CHECK((!state || (*state)["synced"].empty()));
        auto b = h.backup(); // between the failures
        runs = h.wait_for_runs(3, 30s);
        std::this_thread::sleep_for(1s);
        runs = h.runs();
        REQUIRE(runs.size() == 3);
        double first_gap = runs[1].started - runs[0].started;
        double second_gap = runs[2].started - runs[1].started;
        CHECK(first_gap >= 0.9);
        CHECK(second_gap > first_gap);
        CHECK(second_gap >= 1.9);
        auto last = runs[2].appeared;
        CHECK(std::find(last.begin(), last.end(), a) != last.end());
        CHECK(std::find(last.begin(), last.end(), b) != last.end());
        state = util::read_json_file((h.state_dir() / "backup-syncd.json").string());
        REQUIRE(state);
        CHECK((*state)["synced"].size() == 2);
        CHECK(status_of(h.state_dir())["consecutive_failures"] == 0);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: a success it cannot record is a failure that backs off, then repeats",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        SyncdHarness h(dir->path(), "exit 0", "--retry-min 10 --retry-max 30");
        auto a = h.backup();
        h.wait_for_runs(1, 20s);
        fs::path state_file = h.state_dir() / "backup-syncd.json";
        auto recorded = [&] {
            auto state = util::read_json_file(state_file.string());
            return state && (*state)["synced"].size() == 1;
        };
        REQUIRE(wait_until(recorded, 20s));
        // The state file cannot be replaced any more (for root too: a directory in its way).
        fs::remove(state_file);
        fs::create_directory(state_file);
        auto b = h.backup();
        auto failed = [&] {
            auto status =
                util::read_json_file((h.state_dir() / "backup-syncd-status.json").string());
            return status && (*status)["consecutive_failures"] == 1;
        };
        REQUIRE(wait_until(failed, 20s));
        auto status = status_of(h.state_dir());
        INFO(status.dump());
        CHECK(status["last_result"].get<std::string>().find("could not be recorded") !=
              std::string::npos);
        CHECK(status["state_error"].get<std::string>().find("backup-syncd.json") !=
              std::string::npos); // backup-status shows it as the client's sync error
        REQUIRE_FALSE(status["next_retry"].is_null());
        // Backing off, not re-running: the retry is set --retry-min after the attempt, and
        // no other run came meanwhile.
        auto attempt = util::parse_time(status["last_attempt"].get<std::string>());
        auto retry = util::parse_time(status["next_retry"].get<std::string>());
        REQUIRE(attempt);
        REQUIRE(retry);
        CHECK(*retry - *attempt >= std::chrono::seconds(9));
        CHECK(h.runs().size() == 2);

        fs::remove(state_file);
        auto runs = h.wait_for_runs(3, 30s);
        CHECK(runs[2].appeared == runs[1].appeared); // repeated whole: nothing lost
        CHECK(std::find(runs[2].appeared.begin(), runs[2].appeared.end(), b) !=
              runs[2].appeared.end());
        // The state first, then the status: both recorded.
        REQUIRE(wait_until(
            [&] {
                auto state = util::read_json_file(state_file.string());
                auto now =
                    util::read_json_file((h.state_dir() / "backup-syncd-status.json").string());
                return state && (*state)["synced"].size() == 2 && now &&
                       (*now)["consecutive_failures"] == 0;
            },
            20s));
        CHECK(status_of(h.state_dir())["state_error"].is_null());
        (void)a;
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: a vanished watch directory is an error, never 'everything went'",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        SyncdHarness h(dir->path());
        auto id = h.backup();
        h.wait_for_runs(1, 20s);
        fs::path moved = dir->path() / "snapshots-away";
        fs::rename(h.watch_dir(), moved);
        // Two full listings pass.
        auto deadline = Clock::now() + 10s;
        std::string log;
        while (Clock::now() < deadline &&
               (log = util::read_file(h.log_file().string()).value_or(""))
                       .find("nothing is treated as gone") == std::string::npos) {
            std::this_thread::sleep_for(100ms);
        }
        CHECK(log.find("nothing is treated as gone") != std::string::npos);
        std::this_thread::sleep_for(3s);
        CHECK(h.runs().size() == 1);
        CHECK_FALSE(status_of(h.state_dir())["watch_error"].is_null());

        fs::rename(moved, h.watch_dir());
        auto b = h.backup(); // and it notices changes again
        auto runs = h.wait_for_runs(2, 20s);
        CHECK(runs[1].appeared == std::vector<std::string>{b});
        CHECK(runs[1].gone.empty());
        CHECK(status_of(h.state_dir())["watch_error"].is_null());
        (void)id;
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: after a SIGKILL of the daemon, its sync finishes before the next starts",
          "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        // The first run waits for the gate; later ones pass it at once.
        fs::path gate = dir->path() / "gate";
        SyncdHarness h(dir->path(),
                       fmt::format("while [ ! -e {0} ]; do sleep 0.05; done", gate.string()));
        h.backup();
        auto first = h.wait_for_runs(1, 20s);
        pid_t daemon = h.tree().wait_until_up("backup-syncd", 20s);
        REQUIRE(::kill(daemon, SIGKILL) == 0);
        // runsv starts a new daemon; it sees the old run (still waiting at the gate) and waits.
        auto waiting = [&] {
            auto log = util::read_file(h.log_file().string()).value_or("");
            return log.find("earlier backup-syncd still runs") != std::string::npos;
        };
        REQUIRE(wait_until(waiting, 20s));
        CHECK(h.runs().size() == 1);
        REQUIRE(util::atomic_write(gate.string(), "", 0644));
        auto runs = h.wait_for_runs(2, 30s);
        // The killed daemon recorded nothing: the same IDs again, once the old run had ended.
        CHECK(runs[1].appeared == first[0].appeared);
        auto log = util::read_file(h.log_file().string()).value_or("");
        CHECK(log.find("the earlier sync ended") != std::string::npos);
        REQUIRE(wait_until(
            [&] {
                return status_of(h.state_dir())["consecutive_failures"] == 0 &&
                       !status_of(h.state_dir())["last_success"].is_null() &&
                       status_of(h.state_dir())["snapshots_synced"] == 1;
            },
            20s));
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: sv down stops a long sync's whole process group", "[backup-syncd]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        fs::path pidfile = dir->path() / "sleeper.pid";
        SyncdHarness h(dir->path(),
                       fmt::format("sleep 1000 & echo $! > {}; wait", pidfile.string()),
                       "--term-grace 2");
        h.backup();
        h.wait_for_runs(1, 20s);
        auto deadline = Clock::now() + 10s;
        while (!fs::exists(pidfile) && Clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        auto pid_text = util::read_file(pidfile.string());
        REQUIRE(pid_text);
        pid_t sleeper = std::stoi(*pid_text);
        auto syncd_pid =
            util::read_file((dir->path() / "runit/sv/backup-syncd/supervise/pid").string());
        REQUIRE(syncd_pid);
        auto start = Clock::now();
        h.sv("down");
        CHECK(Clock::now() - start < 8s);
        CHECK(wait_for_pid_exit(sleeper, 5s));
        CHECK(wait_for_pid_exit(std::stoi(*syncd_pid), 5s));
        CHECK(h.tree().status("backup-syncd").starts_with("down: "));
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd: a deletion that falls due runs the sync with nothing new, and the "
          "replica lets a pruned snapshot go",
          "[backup-syncd][retention]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd-due");
    REQUIRE(dir);
    {
        fs::path replicas = dir->path() / "replicas";
        fs::create_directories(replicas);
        BackupServer server(
            dir->path(), fmt::format("destinations:\n"
                                     "  - {{name: disk2, path: '{}/{{host}}', keep_deleted: 2s}}\n",
                                     replicas.string()));
        server.provision("web1", "rest-server");
        server.start();
        server.enable("web1");
        server.wait_for_storage("web1");
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        auto client = server.client("web1");
        client.run({"init"});
        fs::path primary = server.client_config("web1").repository;
        fs::path replica = replicas / "web1";
        auto snapshots = [](const fs::path& repository) {
            auto ids = core::list_snapshot_ids(repository / "snapshots");
            return ids ? ids->size() : std::size_t{0};
        };
        auto wait_for = [](const std::function<bool()>& done, const std::string& what) {
            auto deadline = Clock::now() + 60s;
            while (!done()) {
                if (Clock::now() > deadline) {
                    FAIL("never: " << what);
                }
                std::this_thread::sleep_for(100ms);
            }
        };
        for (int i = 0; i < 3; ++i) {
            REQUIRE(util::atomic_write((source / "changing").string(), std::to_string(i), 0644));
            client.run({"backup", "-q", source.string()});
        }
        wait_for([&] { return snapshots(replica) == 3; }, "3 snapshots in the replica");
        // One snapshot forgotten and its data pruned. backup-syncd's run for it sees the files
        // gone; the deletion falls due 2 s later, with nothing else happening.
        client.run({"forget", "-q", "--keep-last", "2", "--prune"});
        REQUIRE(snapshots(primary) == 2);
        wait_for([&] { return snapshots(replica) == 2; },
                 "the forgotten snapshot deleted from the replica");
        fs::path status = server.client_dir("web1") / "state/replicate-status.json";
        wait_for(
            [&] {
                auto json = util::read_json_file(status.string());
                return json && (*json)["destinations"][0]["retention"]["last_deletion"].is_string();
            },
            "restic-replicate's status with the deletion");
    }
    require_no_processes(dir->path());
}

// --- Listing mode: a repository on somebody else's S3 ------------------------------------------

namespace {

// A repository that restic writes straight to a bucket on versitygw (the store the toolkit does
// not run), and backup-syncd under runsvdir listing it every second through rclone, with the
// store's keys in an rclone config file (0600) named by --rclone-config.
class RemoteSyncdHarness : public Recorder {
public:
    explicit RemoteSyncdHarness(const fs::path& work, int poll_interval = 1)
        : Recorder(work, "exit 0"), m_store(work), m_tree(work / "runit") {
        write_rclone_config(m_store.endpoint(), m_store.access_key(), m_store.secret_key());
        rclone({"mkdir", "store:bkt"});
        m_client = make_restic_client(work / "client", "s3:" + m_store.endpoint() + "/bkt/web1");
        m_client.env["AWS_ACCESS_KEY_ID"] = m_store.access_key();
        m_client.env["AWS_SECRET_ACCESS_KEY"] = m_store.secret_key();
        m_client.run({"init"});
        std::string run = listing_run_script(fmt::format("--poll-interval {}", poll_interval));
        m_tree.add_service("backup-syncd", run);
        m_pid = m_tree.wait_until_up("backup-syncd", 20s);
    }

    VersitygwServer& store() { return m_store; }
    RunsvdirTree& tree() { return m_tree; }
    pid_t pid() const { return m_pid; }
    std::string backup() { return Recorder::backup(m_client); }

    // The store's requests so far: all of them, and the listings of snapshots/.
    std::size_t requests() const { return occurrences(m_store.log(), " | vgw | "); }
    std::size_t listings() const {
        return occurrences(m_store.log(), "prefix=web1%2Fsnapshots%2F");
    }

private:
    VersitygwServer m_store;
    ResticClient m_client;
    RunsvdirTree m_tree;
    pid_t m_pid = 0;
};

} // namespace

TEST_CASE("backup-syncd --remote: each snapshot on S3 is synced once, one ListObjects a second",
          "[backup-syncd][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        RemoteSyncdHarness h(dir->path());
        auto first = h.backup();
        auto runs = h.wait_for_runs(1, 20s);
        CHECK(runs[0].appeared == std::vector<std::string>{first});
        CHECK(runs[0].gone.empty());
        CHECK(util::read_file((runs[0].dir / "env").string()).value_or("") ==
              "web1 store:bkt/web1\n");

        // A stray name next to a new snapshot: only the snapshot counts.
        h.rclone({"rcat", "store:bkt/web1/snapshots/stray.tmp"}, "x");
        auto second = h.backup();
        runs = h.wait_for_runs(2, 20s);
        CHECK(runs[1].appeared == std::vector<std::string>{second});
        CHECK(runs[1].gone.empty());

        // Idle: each listing is one request, and nothing else is asked of the store.
        auto requests = h.requests();
        auto listings = h.listings();
        auto start = Clock::now();
        REQUIRE(wait_until([&] { return h.listings() >= listings + 5; }, 20s));
        double took = std::chrono::duration<double>(Clock::now() - start).count();
        CHECK(h.requests() - requests == h.listings() - listings);
        CHECK(took > 3.5); // at most one listing a second
        CHECK(h.runs().size() == 2);
        auto status = status_of(h.state_dir());
        CHECK(status["watchdir"] == "store:bkt/web1/snapshots");
        CHECK(status["last_result"] == "ok");
        CHECK(status["snapshots_synced"] == 2);
        CHECK(status["watch_error"].is_null());
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd --remote: a store that is down is a watch error, and back it syncs nothing "
          "twice",
          "[backup-syncd][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        RemoteSyncdHarness h(dir->path());
        auto first = h.backup();
        h.wait_for_runs(1, 20s);

        h.store().stop();
        REQUIRE(
            wait_until([&] { return !status_of(h.state_dir())["watch_error"].is_null(); }, 20s));
        auto status = status_of(h.state_dir());
        INFO(status.dump());
        CHECK(status["watch_error"].get<std::string>().find("store:bkt/web1/snapshots/") !=
              std::string::npos);
        CHECK(status["consecutive_failures"] == 0); // no sync was tried: nothing went
        CHECK(status["pending_gone"] == 0);
        // The daemon stays up (a watch error is no reason to exit), the same process.
        CHECK(h.tree().wait_until_up("backup-syncd", 5s) == h.pid());

        h.store().start();
        REQUIRE(wait_until([&] { return status_of(h.state_dir())["watch_error"].is_null(); }, 20s));
        auto listings = h.listings();
        REQUIRE(wait_until([&] { return h.listings() >= listings + 2; }, 20s));
        CHECK(h.runs().size() == 1); // the snapshot synced before the outage is not synced again

        auto second = h.backup();
        auto runs = h.wait_for_runs(2, 20s);
        CHECK(runs[1].appeared == std::vector<std::string>{second});
        CHECK(h.runs().size() == 2);
        CHECK(status_of(h.state_dir())["consecutive_failures"] == 0);
        (void)first;
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd --remote: a repository emptied of config and snapshots is an error, never "
          "'everything went'",
          "[backup-syncd][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        RemoteSyncdHarness h(dir->path());
        h.backup();
        h.wait_for_runs(1, 20s);
        // On S3 an empty prefix lists as empty, no error: only the missing config tells.
        h.rclone({"purge", "store:bkt/web1"});
        REQUIRE(
            wait_until([&] { return !status_of(h.state_dir())["watch_error"].is_null(); }, 20s));
        auto status = status_of(h.state_dir());
        INFO(status.dump());
        CHECK(status["watch_error"].get<std::string>().find("no config") != std::string::npos);
        CHECK(status["pending_gone"] == 0);
        auto listings = h.listings();
        REQUIRE(wait_until([&] { return h.listings() >= listings + 2; }, 20s));
        CHECK(h.runs().size() == 1);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd --remote: HUP lists now, long before the next interval",
          "[backup-syncd][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd");
    REQUIRE(dir);
    {
        RemoteSyncdHarness h(dir->path(), 600);
        REQUIRE(wait_until([&] { return h.listings() >= 1; }, 20s)); // the one at the start
        auto id = h.backup();
        auto listings = h.listings(); // restic's own listings of snapshots/ count too
        auto start = Clock::now();
        REQUIRE(::kill(h.pid(), SIGHUP) == 0);
        auto runs = h.wait_for_runs(1, 20s);
        CHECK(Clock::now() - start < 20s);
        CHECK(runs[0].appeared == std::vector<std::string>{id});
        CHECK(h.listings() == listings + 1); // the run got the listing that found the snapshot
    }
    require_no_processes(dir->path());
}
