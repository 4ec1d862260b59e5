// backup-status's judging, on statuses made in memory: the state of each client and the problems
// that make the exit code 1, for each case the issue tracker has seen it get wrong.
#include "status/collect.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

using namespace backup::core;

namespace {

using backup::test::k_now;
constexpr std::int64_t k_hour = 3600;

ServiceInfo service(const std::string& name, bool up) {
    ServiceInfo s;
    s.name = name;
    s.supervised = true;
    SuperviseStatus st;
    st.state = up ? ServiceState::run : ServiceState::down;
    st.since_unix = k_now - 10 * k_hour;
    s.status = st;
    return s;
}

// A dedicated client with a repository, its services up and a snapshot an hour old: ok.
ClientInfo healthy(const std::string& host = "web1") {
    ClientInfo c;
    c.host = host;
    c.kind = "versitygw";
    c.topology = "dedicated";
    c.enabled = true;
    c.initialised = true;
    c.created = k_now - 100 * 24 * k_hour;
    c.repository = "/backups/systems/" + host + "/data/" + host;
    c.services = {service("runsvdir", true), service("versitygw", true),
                  service("backup-syncd", true)};
    c.snapshots = 1;
    c.newest_snapshot = k_now - k_hour;
    c.snapshot_times = {k_now - k_hour};
    c.last_sync = k_now - k_hour;
    c.sync_updated = k_now - k_hour + 1;
    c.snapshots_synced = 1;
    return c;
}

ServerStatus judged(std::vector<ClientInfo> clients, std::vector<InstanceInfo> instances = {}) {
    ServerStatus s;
    s.now = k_now;
    s.clients = std::move(clients);
    s.instances = std::move(instances);
    judge_status(s);
    return s;
}

std::vector<std::string> kinds_of(const ClientInfo& c) {
    std::vector<std::string> out;
    for (const auto& p : c.problems) {
        out.emplace_back(to_string(p.kind));
    }
    return out;
}

InstanceInfo instance(bool up) {
    InstanceInfo i;
    i.kind = "versitygw";
    i.enabled = true;
    i.service = service("_shared-versitygw", up);
    i.clients = 1;
    return i;
}

} // namespace

TEST_CASE("status: a client with a recent snapshot and its services up is ok") {
    auto s = judged({healthy()});
    CHECK(s.clients[0].state == ClientState::ok);
    CHECK(s.clients[0].problems.empty());
    CHECK(s.healthy());
}

TEST_CASE("status: before restic init a client is new, and stale only after its interval") {
    auto c = healthy();
    c.initialised = false;
    c.snapshots = 0;
    c.newest_snapshot.reset();
    c.snapshot_times.clear();
    c.last_sync.reset();
    c.snapshots_synced = 0;
    c.created = k_now - k_hour;
    auto s = judged({c});
    CHECK(s.clients[0].state == ClientState::fresh);
    CHECK(to_string(s.clients[0].state) == "new");
    CHECK(s.healthy());

    c.created = k_now - 30 * k_hour;
    s = judged({c});
    CHECK(s.clients[0].state == ClientState::stale);
    REQUIRE(s.clients[0].problems.size() == 1);
    CHECK(s.clients[0].problems[0].message.find("restic-wrapper init") != std::string::npos);
    CHECK_FALSE(s.healthy());
}

TEST_CASE("status: an initialised client without a snapshot since provisioning goes stale") {
    auto c = healthy();
    c.snapshots = 0;
    c.newest_snapshot.reset();
    c.created = k_now - 2 * k_hour;
    CHECK(judged({c}).clients[0].state == ClientState::ok);
    c.created = k_now - 27 * k_hour;
    auto s = judged({c});
    CHECK(s.clients[0].state == ClientState::stale);
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"stale"});
}

TEST_CASE("status: an old snapshot is stale, a service down on top of it is failing") {
    auto c = healthy();
    c.newest_snapshot = k_now - 30 * k_hour;
    auto s = judged({c});
    CHECK(s.clients[0].state == ClientState::stale);
    c.services[2] = service("backup-syncd", false);
    s = judged({c});
    CHECK(s.clients[0].state == ClientState::failing);
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"service-down", "stale"});
    CHECK(s.clients[0].problems[0].subject == "backup-syncd");
}

TEST_CASE("status: a disabled client is not judged for what is stopped on purpose") {
    auto c = healthy();
    c.enabled = false;
    c.services = {service("runsvdir", false), service("versitygw", false)};
    c.newest_snapshot = k_now - 100 * k_hour;
    c.sync_failures = 3;
    c.sync_error = "exited with status 1";
    auto s = judged({c});
    CHECK(s.clients[0].state == ClientState::disabled);
    CHECK(s.healthy());

    // A shared client turned off with --disable is disabled too, though its link is there.
    auto shared = healthy("shared1");
    shared.topology = "shared";
    shared.access_disabled = true;
    s = judged({shared}, {instance(true)});
    CHECK(s.clients[0].state == ClientState::disabled);

    // Its repository is still the only copy of its backups: damage found there is a problem.
    AuditInfo audit;
    audit.label = "repository";
    audit.result = "findings";
    audit.findings = 2;
    audit.first_finding = "data/ab/ab01: corrupt";
    c.audits = {audit};
    s = judged({c});
    CHECK(s.clients[0].state == ClientState::failing);
    REQUIRE(s.clients[0].problems.size() == 1);
    CHECK(s.clients[0].problems[0].message ==
          "audit of the repository found 2 problem(s): data/ab/ab01: corrupt");
}

TEST_CASE("status: a shared client whose instance is down or unlinked is failing") {
    auto c = healthy("shared1");
    c.topology = "shared";
    c.services = {service("runsvdir", true), service("backup-syncd", true)};
    CHECK(judged({c}, {instance(true)}).clients[0].state == ClientState::ok);
    auto s = judged({c}, {instance(false)});
    CHECK(s.clients[0].state == ClientState::failing);
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"instance-down"});
    CHECK_FALSE(s.instances[0].ok());
    auto unlinked = instance(true);
    unlinked.enabled = false;
    s = judged({c}, {unlinked});
    CHECK(s.clients[0].state == ClientState::failing);
    CHECK(s.instances[0].problems.at(0).message.find("not linked") != std::string::npos);
    // No instance at all (its directory removed by hand).
    s = judged({c});
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"instance-down"});
}

TEST_CASE("status: destinations: failed is failing, long lagging is failing, never synced is "
          "not") {
    auto c = healthy();
    c.destinations = {{"disk2", "ok", k_now - k_hour}, {"later", "never"}};
    CHECK(judged({c}).clients[0].state == ClientState::ok);
    c.destinations[0].missing_snapshots = 2;
    c.destinations[0].newest_missing = k_now - 2 * k_hour; // a sync on its way
    CHECK(judged({c}).clients[0].state == ClientState::ok);
    c.destinations[0].newest_missing = k_now - 27 * k_hour;
    auto s = judged({c});
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"destination-lagging"});
    c.destinations[0].state = "failed";
    c.destinations[0].error = "unable to open /mnt/disk2";
    s = judged({c});
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"destination-failing"});
    CHECK(s.clients[0].problems[0].message ==
          "destination disk2 failed: unable to open /mnt/disk2");
}

TEST_CASE("status: a repository that is gone after backup-syncd synced it is failing") {
    auto c = healthy();
    c.initialised = false;
    c.snapshots = 0;
    c.newest_snapshot.reset();
    auto s = judged({c});
    CHECK(s.clients[0].state == ClientState::failing);
    CHECK(kinds_of(s.clients[0]).front() == "repository");
    CHECK(s.clients[0].problems[0].message.find("disk mounted") != std::string::npos);
}

TEST_CASE("status: a certificate within 30 days of its end, and a quota nearly used") {
    auto c = healthy();
    c.certificate_file = "/backups/systems/web1/conf/tls/cert.pem";
    c.certificate_expires = k_now + 40 * 24 * k_hour;
    CHECK(judged({c}).clients[0].state == ClientState::ok);
    c.certificate_expires = k_now + 10 * 24 * k_hour;
    auto s = judged({c});
    CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"certificate"});
    CHECK(s.clients[0].problems[0].message.find("--renew-certs -H web1") != std::string::npos);
    c.certificate_expires = k_now - 1;
    CHECK(judged({c}).clients[0].problems[0].message.find("has expired") != std::string::npos);

    auto q = healthy();
    q.quota = 1000;
    q.quota_used = 899;
    CHECK(judged({q}).clients[0].state == ClientState::ok);
    q.quota_used = 900;
    CHECK(kinds_of(judged({q}).clients[0]) == std::vector<std::string>{"quota"});
}

TEST_CASE("status: a client whose config cannot be read keeps its row, in error") {
    ClientInfo broken;
    broken.host = "broken";
    broken.state = ClientState::error;
    broken.problems.push_back({ProblemKind::config, "client.yaml", "read client.yaml: line 3"});
    auto s = judged({healthy(), broken});
    CHECK(s.clients[1].state == ClientState::error);
    CHECK_FALSE(s.healthy());
}

TEST_CASE("status: a snapshot backup-syncd has not recorded for a while is a failing sync") {
    ClientInfo c = healthy();
    c.sync_updated = k_now - 2 * k_hour; // written before the snapshot arrived, an hour ago
    SECTION("its status older than the snapshot") {
        auto s = judged({c});
        CHECK(s.clients[0].state == ClientState::failing);
        CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"sync-failing"});
        CHECK(s.clients[0].problems[0].message.find("has not recorded the snapshot") !=
              std::string::npos);
    }
    SECTION("no status at all") {
        c.sync_updated.reset();
        auto s = judged({c});
        CHECK(kinds_of(s.clients[0]) == std::vector<std::string>{"sync-failing"});
        CHECK(s.clients[0].problems[0].message.find("no status") != std::string::npos);
    }
    SECTION("a sync still running merges it into the next run: not yet a problem") {
        c.sync_running = true;
        CHECK(judged({c}).clients[0].ok());
    }
    SECTION("a snapshot that arrived a minute ago may not be seen yet") {
        c.newest_snapshot = k_now - 60;
        c.snapshot_times = {k_now - 60};
        CHECK(judged({c}).clients[0].ok());
    }
    SECTION("a client without backup-syncd is not judged for it") {
        c.services = {service("runsvdir", true), service("versitygw", true)};
        CHECK(judged({c}).clients[0].ok());
    }
}

TEST_CASE("status: held deletions need a person, frozen ones do not") {
    ClientInfo c = healthy();
    DestinationInfo d;
    d.name = "s3";
    d.state = "deletion held";
    d.keep_deleted = "4d";
    d.deletions_held = "it would delete 3 of its 3 snapshots";
    c.destinations = {d};
    auto held = judged({c});
    CHECK(held.clients[0].state == ClientState::failing);
    REQUIRE(kinds_of(held.clients[0]) == std::vector<std::string>{"held-deletion"});
    CHECK(held.clients[0].problems[0].message.find(
              "restic-replicate --client web1 --confirm-deletions s3") != std::string::npos);
    c.destinations[0].state = "ok";
    c.destinations[0].deletions_held.clear();
    c.destinations[0].deletions_frozen = true;
    CHECK(judged({c}).clients[0].ok());
}

TEST_CASE("a remote primary is ok with a recent listing, failing once it is a few polls old") {
    ClientInfo c = healthy();
    c.kind = "remote";
    c.topology = "remote";
    c.repository.clear();
    c.services = {service("runsvdir", true), service("backup-syncd", true)};
    c.remote_repository = "store:backups/web1";
    c.poll_interval_seconds = 60;
    c.listed = k_now - 30;
    CHECK(judged({c}).clients[0].state == ClientState::ok);
    c.listed = k_now - 3 * 60 - 121;
    auto old = judged({c}).clients[0];
    CHECK(old.state == ClientState::failing);
    CHECK(kinds_of(old) == std::vector<std::string>{"sync-failing"});
    c.listed = k_now - 30;
    c.listing_error = "connection refused";
    CHECK(judged({c}).clients[0].state == ClientState::failing);
    // No record at all: never ok; not linked yet (or on purpose): disabled, nothing to list.
    c.listing_error.clear();
    c.listed.reset();
    CHECK(judged({c}).clients[0].state == ClientState::failing);
    c.enabled = false;
    CHECK(judged({c}).clients[0].state == ClientState::disabled);
}
