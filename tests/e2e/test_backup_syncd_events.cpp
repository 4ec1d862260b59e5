// backup-syncd --remote --event-listen: versitygw POSTs its bucket events to backup-syncd's
// listener on loopback, and a new snapshot is synced at once although the listing interval is an
// hour. The store must reach its webhook to start, so backup-syncd comes first.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include "support/fixtures.hpp"
#include "support/syncd_recorder.hpp"
#include "util/http.hpp"
#include "util/socket.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// backup-syncd under runsvdir listing store:bkt/web1 every hour, with its event listener on a
// free loopback port; then versitygw sending its events there, a bucket, and a repository in it.
class EventSyncdHarness : public Recorder {
public:
    explicit EventSyncdHarness(const fs::path& work)
        : Recorder(work, "exit 0"), m_event_port(free_port()), m_tree(work / "runit") {
        write_rclone_config("http://127.0.0.1:1", "none", "none"); // no store yet
        std::string run = listing_run_script(
            fmt::format("--poll-interval 3600 --event-listen 127.0.0.1:{}", m_event_port));
        m_tree.add_service("backup-syncd", run);
        m_tree.wait_until_up("backup-syncd", 20s);
        wait_for_port(m_event_port, 20s, "backup-syncd's event listener");
        m_store.emplace(
            work, std::vector<std::string>{"--event-webhook-url",
                                           fmt::format("http://127.0.0.1:{}/", m_event_port)});
        write_rclone_config(m_store->endpoint(), m_store->access_key(), m_store->secret_key());
        rclone({"mkdir", "store:bkt"});
        m_client = make_restic_client(work / "client", "s3:" + m_store->endpoint() + "/bkt/web1");
        m_client.env["AWS_ACCESS_KEY_ID"] = m_store->access_key();
        m_client.env["AWS_SECRET_ACCESS_KEY"] = m_store->secret_key();
        m_client.run({"init"});
    }

    int event_port() const { return m_event_port; }
    std::string backup() { return Recorder::backup(m_client); }
    std::string log() const { return util::read_file(log_file().string()).value_or(""); }
    // The listings of snapshots/ the store served, and those an event brought (the log's lines).
    std::size_t listings() const {
        return occurrences(m_store->log(), "prefix=web1%2Fsnapshots%2F");
    }
    std::size_t event_listings() const { return occurrences(log(), "bucket event: listing"); }

private:
    int m_event_port;
    RunsvdirTree m_tree;
    std::optional<VersitygwServer> m_store; // stopped before backup-syncd
    ResticClient m_client;
};

// A POST of an S3 event about key to the listener: its HTTP status.
int post_event(int port, const std::string& key) {
    util::HttpRequest request;
    request.method = "POST";
    request.target = "/";
    request.headers["Content-Type"] = "application/json";
    request.body = fmt::format(R"({{"Records":[{{"s3":{{"object":{{"key":"{}"}}}}}}]}})", key);
    auto response = util::http_request("127.0.0.1", port, request, 10s);
    REQUIRE(response);
    return response->status;
}

} // namespace

TEST_CASE("backup-syncd --event-listen: a new snapshot's bucket event syncs it at once, with one "
          "listing for the whole backup",
          "[backup-syncd][remote][events]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd-events");
    REQUIRE(dir);
    {
        EventSyncdHarness h(dir->path());
        auto id = h.backup();
        // Nothing but the event can list before an hour has passed.
        auto runs = h.wait_for_runs(1, 60s);
        CHECK(runs[0].appeared == std::vector<std::string>{id});
        REQUIRE(wait_until([&] { return status_of(h.state_dir())["last_result"] == "ok"; }, 20s));
        CHECK(h.runs().size() == 1);
        // restic's data/, index/ and locks/ uploads were events too, and listed nothing.
        INFO(h.log());
        CHECK(h.event_listings() == 1);
        auto status = status_of(h.state_dir());
        CHECK(status["events_received"].get<int>() >= 3);
        CHECK(status["last_event"].is_string());
        CHECK(status["snapshots_synced"] == 1);
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd --event-listen: a silent client, an oversize body and a storm of events "
          "leave the next event working, at most one listing a second",
          "[backup-syncd][remote][events]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd-events");
    REQUIRE(dir);
    {
        EventSyncdHarness h(dir->path());
        auto silent = util::connect_tcp("127.0.0.1", h.event_port(), 20s);
        REQUIRE(silent);
        auto big = util::connect_tcp("127.0.0.1", h.event_port(), 20s);
        REQUIRE(big);
        REQUIRE(util::write_all(big->get(),
                                "POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n" +
                                    std::string(70000, 'x'),
                                "send"));
        char answer[64] = {};
        REQUIRE(::recv(big->get(), answer, sizeof answer - 1, 0) > 0);
        CHECK(std::string(answer).starts_with("HTTP/1.1 413 "));

        auto id = h.backup();
        auto runs = h.wait_for_runs(1, 60s);
        CHECK(runs[0].appeared == std::vector<std::string>{id});
        // The silent client is dropped after its few seconds, unanswered.
        REQUIRE(
            wait_until([&] { return ::recv(silent->get(), answer, 1, MSG_DONTWAIT) == 0; }, 20s));

        // A storm of events about snapshots/ for 3 s: one listing a second at most.
        REQUIRE(wait_until([&] { return status_of(h.state_dir())["last_result"] == "ok"; }, 20s));
        auto before = h.event_listings();
        auto store_before = h.listings();
        int sent = 0;
        int answered = 0;
        auto start = Clock::now();
        while (Clock::now() - start < 3s) {
            answered += post_event(h.event_port(), "web1/snapshots/" + std::string(64, 'f')) == 200;
            ++sent;
        }
        CHECK(answered == sent);
        double took = std::chrono::duration<double>(Clock::now() - start).count();
        // Every event counted, and the last one listed (the status is written with it).
        REQUIRE(wait_until(
            [&] {
                return status_of(h.state_dir())["events_received"].get<int>() >= sent &&
                       h.event_listings() > before;
            },
            20s));
        auto storm_listings = h.event_listings() - before;
        INFO(sent << " events in " << took << " s: " << storm_listings << " listings");
        CHECK(sent > 20);
        CHECK(storm_listings >= 1);
        CHECK(storm_listings <= static_cast<std::size_t>(took) + 2);
        CHECK(h.listings() - store_before == storm_listings);
        CHECK(h.runs().size() == 1); // nothing new in snapshots/: no run
    }
    require_no_processes(dir->path());
}

TEST_CASE("backup-syncd --event-listen: anything but a loopback address is refused with 100",
          "[backup-syncd][events]") {
    auto dir = util::TempDir::create_in_tmp("e2e-syncd-events");
    REQUIRE(dir);
    std::string syncd = (fs::path(tools_dir()) / "backup-syncd").string();
    std::string state = dir->path().string();
    for (const char* address : {"0.0.0.0:8400", "192.0.2.1:8400", "localhost:8400"}) {
        auto r = run_cmd({syncd, "--remote", "store:bkt/web1", "--state-dir", state, "--script",
                          "true", "--event-listen", address},
                         base_environment());
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("not a loopback address") != std::string::npos);
    }
    auto r = run_cmd({syncd, "--watchdir", state, "--state-dir", state, "--script", "true",
                      "--event-listen", "127.0.0.1:8400"},
                     base_environment());
    INFO(r.out << r.err);
    CHECK(r.exit_code() == 100);
    CHECK(r.err.find("--event-listen") != std::string::npos);
    require_no_processes(dir->path());
}
