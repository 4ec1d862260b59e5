// The state and status files between the tools: each written by one module and read back
// strictly by the same module, another schema refused.
#include "state/audit_status.hpp"
#include "state/notify_state.hpp"
#include "state/replicate_status.hpp"
#include "state/syncd_status.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

#include <catch2/catch.hpp>
#include <functional>

using namespace backup;
using namespace backup::core;
using util::TempDir;

TEST_CASE("state: backup-syncd's status round-trips, its schema is checked") {
    auto dir = TempDir::create_in_tmp("unit-state");
    REQUIRE(dir);
    auto none = read_sync_status(dir->path());
    REQUIRE(none);
    CHECK_FALSE(*none);
    SyncStatus s;
    s.client = "web1";
    s.watchdir = "/backups/systems/web1/data/web1/snapshots";
    s.pid = 42;
    s.updated = "2024-05-01T03:00:00.000Z";
    s.last_success = "2024-05-01T02:59:59.500Z";
    s.last_result = "ok";
    s.snapshots_synced = 3;
    REQUIRE(write_sync_status(dir->path(), s));
    auto back = read_sync_status(dir->path());
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->client == "web1");
    CHECK((*back)->last_success == s.last_success);
    CHECK_FALSE((*back)->last_attempt);
    CHECK((*back)->snapshots_synced == 3);

    auto path = sync_status_path(dir->path()).string();
    auto json = util::read_json_file(path).value();
    json["schema"] = 1; // the unix-seconds format of earlier versions
    REQUIRE(util::write_json_file(path, json));
    auto old = read_sync_status(dir->path());
    REQUIRE_FALSE(old);
    CHECK(old.error().message().find("schema 1 is not supported") != std::string::npos);
    json["schema"] = k_syncd_status_schema;
    json["last_success"] = 1714532400;
    json.erase("pid");
    REQUIRE(util::write_json_file(path, json));
    auto bad = read_sync_status(dir->path());
    REQUIRE_FALSE(bad);
    CHECK(bad.error().more().size() == 1); // both problems reported
}

TEST_CASE("state: restic-replicate's status round-trips and is read strictly") {
    auto dir = TempDir::create_in_tmp("unit-state");
    REQUIRE(dir);
    ReplicateStatus s;
    s.client = "web1";
    s.source = "/srv/repo";
    s.started = "2024-05-01T03:00:00.000Z";
    s.finished = "2024-05-01T03:00:01.000Z";
    s.exit_code = 1;
    DestinationStatus d;
    d.name = "disk2";
    d.kind = "local";
    d.target = "/mnt/disk2/web1";
    d.state = "failed";
    d.error = "unable to replicate to disk2: no such directory";
    d.error_code = 111;
    d.copied[phase_index(ReplicatePhase::data)] = {3, 300};
    d.missing_snapshots = 2;
    d.newest_missing_snapshot = MissingSnapshot{std::string(64, 'a'), "2024-05-01T02:00:00.000Z"};
    d.last_attempt = s.started;
    s.destinations.push_back(d);
    REQUIRE(write_replicate_status(dir->path(), s));
    auto back = read_replicate_status(dir->path());
    REQUIRE(back);
    REQUIRE(*back);
    REQUIRE((*back)->destinations.size() == 1);
    const auto& b = (*back)->destinations[0];
    CHECK(b.error_code == 111);
    CHECK(b.files_copied() == 3);
    CHECK(b.bytes_copied() == 300);
    CHECK(b.newest_missing_snapshot->time == "2024-05-01T02:00:00.000Z");
    CHECK_FALSE(b.last_success);
    CHECK(replicate_status_to_json(**back) == replicate_status_to_json(s));

    auto json = replicate_status_to_json(s);
    json["destinations"][0]["state"] = "great";
    CHECK_FALSE(replicate_status_from_json(json, "x"));
    json = replicate_status_to_json(s);
    json["schema"] = 2;
    CHECK_FALSE(replicate_status_from_json(json, "x"));
}

TEST_CASE("state: restic-audit's status round-trips, and its labels are found") {
    auto dir = TempDir::create_in_tmp("unit-state");
    REQUIRE(dir);
    AuditStatus s;
    s.repository = "/srv/repo";
    s.client = "web1";
    s.label = "repository";
    s.started = "2024-05-01T03:00:00.000Z";
    s.finished = "2024-05-01T03:00:02.000Z";
    s.result = "findings";
    s.exit_code = 1;
    s.mode = "rotation";
    s.cycle_length = 30;
    s.findings.push_back({"data/ab/x", "unexpected", "not a repository file"});
    s.last_full_coverage = AuditCoverage{"2024-04-01T00:00:00.000Z", "2024-04-30T00:00:00.000Z"};
    REQUIRE(write_audit_status(dir->path(), s));
    s.label = "destination-disk2";
    REQUIRE(write_audit_status(dir->path(), s));
    // The state of an audit is not a status.
    REQUIRE(util::atomic_write(audit_state_path(dir->path(), "repository").string(), "{}", 0644));
    auto labels = audit_status_labels(dir->path());
    REQUIRE(labels);
    CHECK(*labels == std::vector<std::string>{"destination-disk2", "repository"});
    auto back = read_audit_status(dir->path(), "repository");
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->findings.size() == 1);
    CHECK((*back)->last_full_coverage->finished == "2024-04-30T00:00:00.000Z");

    auto json = audit_status_to_json(s);
    json["result"] = "fine";
    CHECK_FALSE(audit_status_from_json(json, "x"));
    json = audit_status_to_json(s);
    json["finished"] = "yesterday";
    CHECK_FALSE(audit_status_from_json(json, "x"));
}

TEST_CASE("state: --notify's memory round-trips, a malformed one is refused with every problem") {
    auto dir = TempDir::create_in_tmp("unit-state");
    REQUIRE(dir);
    auto none = read_notify_state(dir->path());
    REQUIRE(none);
    CHECK_FALSE(*none);
    NotifyState s;
    s.updated = 1'800'000'000;
    s.rows = {{"client", "web1", "stale", {"stale"}}, {"server", "/backups", "ok", {}}};
    NotifyTargetState t;
    t.name = "webhook ntfy.example.com";
    t.last_attempt = 1'800'000'000;
    t.failures = 2;
    t.last_error = "unable to notify webhook ntfy.example.com: refused";
    t.pending = {{"client",
                  "web1",
                  "unknown",
                  "stale",
                  1'799'999'940,
                  {{"stale", "snapshots", "stale: newest snapshot 30h old"}}}};
    s.targets = {t, {"email ops@example.com", 1'799'990'000, 1'799'990'000, 0, {}, {}}};
    REQUIRE(write_notify_state(dir->path(), s));
    auto path = notify_state_path(dir->path()).string();
    CHECK(path == dir->str() + "/status/notify.json");
    auto back = read_notify_state(dir->path());
    INFO((back ? std::string() : back.error().message()));
    REQUIRE(back);
    REQUIRE(*back);
    const NotifyState& r = **back;
    CHECK(r.updated == s.updated);
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].kinds == std::vector<std::string>{"stale"});
    CHECK(r.rows[1].name == "/backups");
    REQUIRE(r.targets.size() == 2);
    CHECK_FALSE(r.targets[0].last_sent);
    CHECK(r.targets[0].last_attempt == s.updated);
    CHECK(r.targets[0].failures == 2);
    CHECK(r.targets[0].last_error == t.last_error);
    REQUIRE(r.targets[0].pending.size() == 1);
    CHECK(r.targets[0].pending[0].from == "unknown");
    CHECK(r.targets[0].pending[0].time == 1'799'999'940);
    CHECK(r.targets[0].pending[0].problems.at(0).message == "stale: newest snapshot 30h old");
    CHECK(r.targets[1].last_sent == 1'799'990'000);
    CHECK_FALSE(r.targets[1].last_error);

    auto good = util::read_json_file(path).value();
    auto refused = [&](const std::function<void(util::Json&)>& spoil, const std::string& says) {
        auto json = good;
        spoil(json);
        REQUIRE(util::atomic_write(path, json.dump(), 0644));
        auto read = read_notify_state(dir->path());
        REQUIRE_FALSE(read);
        std::string text = read.error().message();
        for (const auto& m : read.error().more()) {
            text += "\n" + m;
        }
        INFO(text);
        CHECK(read.error().code() == util::ExitCode::permanent);
        CHECK(text.find(says) != std::string::npos);
    };
    refused([](util::Json& j) { j["schema"] = 2; }, "schema 2 is not supported");
    refused([](util::Json& j) { j["rows"][0]["state"] = "sad"; },
            "key 'rows[0].state': expected ok, stale, failing or error");
    refused([](util::Json& j) { j["rows"][1]["row"] = "planet"; }, "rows[1].row");
    refused([](util::Json& j) { j["rows"].push_back(j["rows"][0]); }, "client web1 is there twice");
    refused([](util::Json& j) { j["targets"][0]["pending"][0]["from"] = "sad"; },
            "targets[0].pending[0].from");
    refused([](util::Json& j) { j["targets"][0]["last_sent"] = "yesterday"; },
            "targets[0].last_sent");
    refused([](util::Json& j) { j["targets"][1]["failures"] = -1; }, "targets[1].failures");
    refused([](util::Json& j) { j["targets"][1]["name"] = j["targets"][0]["name"]; },
            "is there twice");
    refused([](util::Json& j) { j["targets"][0].erase("pending"); },
            "targets[0].pending': missing");
    // Every problem at once.
    refused(
        [](util::Json& j) {
            j["rows"][0]["state"] = "sad";
            j.erase("updated");
        },
        "key 'updated': missing");
    REQUIRE(util::atomic_write(path, "{not json", 0644));
    CHECK_FALSE(read_notify_state(dir->path()));
}
