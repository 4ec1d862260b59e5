// Retention per destination (keep_deleted): the config keys, the ledger's copied files and their
// gone_since times (schema 2, and schema 1 still read), the pure planning functions, the hold
// file, and the engine deleting from a local destination on a synthetic repository with a
// simulated clock.
#include "model/config.hpp"
#include "replicate/replicate.hpp"
#include "replicate/retention.hpp"
#include "state/replicate_hold.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include <filesystem>
#include <string>
#include <vector>

using namespace backup;
using namespace backup::core;
namespace fs = std::filesystem;

namespace {

using test::k_day;
constexpr std::int64_t k_t0 = 1'800'000'000;

std::string id_of(const std::string& content) {
    return util::sha256_hex(content);
}

// A repository of plain files named by the SHA-256 of their content.
struct Repo {
    fs::path root;
    void write(const std::string& relative, const std::string& content) const {
        fs::create_directories((root / relative).parent_path());
        REQUIRE(util::atomic_write((root / relative).string(), content, 0644));
    }
    std::string add(ReplicatePhase phase, const std::string& content) const {
        std::string relative = replica_path(phase, id_of(content));
        write(relative, content);
        return relative;
    }
};

// One "backup": a pack, an index file and a snapshot named after n.
struct Backup {
    std::string pack, index, snapshot;
};
Backup backup_of(const Repo& repo, int n) {
    return {repo.add(ReplicatePhase::data, fmt::format("pack {}", n)),
            repo.add(ReplicatePhase::index, fmt::format("index {}", n)),
            repo.add(ReplicatePhase::snapshots, fmt::format("snapshot {}", n))};
}
// What restic's forget + prune of that backup removes.
void prune(const Repo& repo, const Backup& b) {
    for (const auto* f : {&b.snapshot, &b.index, &b.pack}) {
        fs::remove(repo.root / *f);
    }
}

struct Setup {
    util::TempDir dir = test::temp_dir("unit-retention");
    Repo source{dir.path() / "source"};
    fs::path dest = dir.path() / "dest";
    ReplicateJob job;
    ReplicateOptions options;
    std::vector<std::string> lines;

    explicit Setup(std::optional<std::chrono::seconds> keep) {
        source.write("config", "config A");
        fs::create_directories(dest);
        Destination d("usb", dest);
        d.keep_deleted = keep;
        job.source = source.root.string();
        job.destinations.push_back({d, d.name});
        job.state_dir = dir.path() / "state";
        options.log = [this](LogLevel, std::string_view line) { lines.emplace_back(line); };
    }
    Destination& destination() { return job.destinations[0].destination; }
    DestinationReport run_at(std::int64_t now) {
        lines.clear();
        options.now = now;
        auto report = replicate(job, options);
        REQUIRE_FALSE(report.error);
        REQUIRE(report.destinations.size() == 1);
        return report.destinations[0];
    }
    bool there(const std::string& relative) const { return fs::exists(dest / relative); }
    std::string log() const {
        std::string out;
        for (const auto& l : lines) {
            out += l + "\n";
        }
        return out;
    }
};

} // namespace

TEST_CASE("retention: keep_deleted and hold_deletions_above in client.yaml, checked by line") {
    auto dir = test::temp_dir("unit-retention");
    std::string path = dir.str() + "/client.yaml";
    std::string head = "schema: 1\nhost: web1\nserver: {kind: versitygw, address: a, port: 8101, "
                       "bucket: web1}\nrepository: /r\nowner: {user: u, group: g}\n";
    REQUIRE(util::atomic_write(path,
                               head + "destinations:\n"
                                      "  - {name: a, path: /a, keep_deleted: 4d}\n"
                                      "  - {name: b, path: /b, keep_deleted: forever}\n"
                                      "  - name: c\n"
                                      "    remote: 's3:x'\n"
                                      "    keep_deleted: 12h\n"
                                      "    hold_deletions_above: {snapshots: 20%, size: 5G}\n",
                               0644));
    auto loaded = load_client_config(path);
    REQUIRE(loaded);
    REQUIRE(loaded->destinations.size() == 3);
    CHECK(loaded->destinations[0].keep_deleted == std::chrono::seconds(4 * k_day));
    CHECK_FALSE(loaded->destinations[1].keep_deleted);
    CHECK(loaded->destinations[1].hold_above_percent == 50);
    CHECK(loaded->destinations[2].keep_deleted == std::chrono::hours(12));
    CHECK(loaded->destinations[2].hold_above_percent == 20);
    CHECK(loaded->destinations[2].hold_above_bytes == 5ULL << 30);
    // Written back and read again: the same values.
    REQUIRE(util::atomic_write(path, render_client_config(*loaded), 0644));
    auto again = load_client_config(path);
    REQUIRE(again);
    CHECK(again->destinations[0].keep_deleted == loaded->destinations[0].keep_deleted);
    CHECK(again->destinations[2].hold_above_bytes == loaded->destinations[2].hold_above_bytes);
    CHECK(again->destinations[2].hold_above_percent == 20);

    REQUIRE(util::atomic_write(path,
                               head + "destinations:\n"
                                      "  - name: a\n"
                                      "    path: /a\n"
                                      "    keep_deleted: soon\n"
                                      "    hold_deletions_above: {snapshots: 150%, size: lots}\n",
                               0644));
    auto bad = load_client_config(path);
    REQUIRE_FALSE(bad);
    std::string text = bad.error().message();
    for (const auto& m : bad.error().more()) {
        text += "\n" + m;
    }
    CHECK(text.find("client.yaml:9: key 'destinations[0].keep_deleted'") != std::string::npos);
    CHECK(text.find("hold_deletions_above.snapshots'") != std::string::npos);
    CHECK(text.find("hold_deletions_above.size'") != std::string::npos);

    auto forever = parse_keep_deleted("forever");
    REQUIRE(forever);
    CHECK_FALSE(forever->has_value());
    CHECK(parse_keep_deleted("2d") == std::optional(std::chrono::seconds(2 * k_day)));
    CHECK_FALSE(parse_keep_deleted("0"));
    CHECK_FALSE(parse_keep_deleted("-1d"));
    CHECK(format_keep_deleted(std::chrono::seconds(90)) == "90s");
    CHECK(format_keep_deleted(std::chrono::hours(36)) == "36h");
}

TEST_CASE("retention: the ledger keeps copied files and their gone_since, schema 1 has none") {
    ReplicaLedger ledger;
    ledger.name = "usb";
    ledger.kind = "local";
    ledger.target = "/mnt/usb";
    std::string found = id_of("found");
    std::string copied = id_of("copied");
    ledger.ids[phase_index(ReplicatePhase::data)].insert(found);
    ledger.add_copied(ReplicatePhase::data, copied, 123);
    ledger.add_copied(ReplicatePhase::keys, id_of("key"), 9); // keys: never deletable
    ledger.copied[phase_index(ReplicatePhase::data)][copied].gone_since = k_t0;
    auto dir = test::temp_dir("unit-retention");
    std::string path = dir.str() + "/usb.json";
    REQUIRE(write_replica_ledger(path, ledger));
    auto back = read_replica_ledger(path);
    REQUIRE(back);
    REQUIRE(*back);
    const auto& data = (*back)->copied[phase_index(ReplicatePhase::data)];
    CHECK(data.size() == 1);
    CHECK(data.at(copied).size == 123);
    CHECK(data.at(copied).gone_since == k_t0);
    CHECK((*back)->contains(ReplicatePhase::data, found));
    CHECK((*back)->contains(ReplicatePhase::keys, id_of("key")));
    CHECK((*back)->copied[phase_index(ReplicatePhase::keys)].empty());

    auto json = replica_ledger_to_json(ledger);
    CHECK(json["schema"] == 2);
    // Schema 1: every file found, none copied.
    auto old = json;
    old["schema"] = 1;
    old.erase("copied");
    auto read_old = replica_ledger_from_json(old, "x");
    REQUIRE(read_old);
    CHECK(read_old->contains(ReplicatePhase::data, copied));
    CHECK(read_old->copied[phase_index(ReplicatePhase::data)].empty());
    // Strict: copied must be in files, and have a size and a time or null.
    auto stray = json;
    stray["copied"]["index"][id_of("nowhere")] = {{"size", 1}, {"gone_since", nullptr}};
    auto error = replica_ledger_from_json(stray, "x");
    REQUIRE_FALSE(error);
    CHECK(error.error().message().find("is not in 'files.index'") != std::string::npos);
    auto no_time = json;
    no_time["copied"]["data"][copied]["gone_since"] = "yesterday";
    CHECK_FALSE(replica_ledger_from_json(no_time, "x"));
    auto no_copied = json;
    no_copied.erase("copied");
    CHECK_FALSE(replica_ledger_from_json(no_copied, "x"));
}

TEST_CASE("retention: deletions seen, cancelled, due, and held above the limits") {
    ReplicaLedger ledger;
    std::vector<std::string> snaps;
    for (int i = 0; i < 4; ++i) {
        snaps.push_back(id_of(fmt::format("s{}", i)));
        ledger.add_copied(ReplicatePhase::snapshots, snaps.back(), 100);
    }
    std::string pack = id_of("pack");
    ledger.add_copied(ReplicatePhase::data, pack, 5000);
    ledger.ids[phase_index(ReplicatePhase::data)].insert(id_of("by hand"));
    std::array<std::vector<std::string>, k_replicate_phase_count> present;
    present[phase_index(ReplicatePhase::snapshots)] = {snaps[1], snaps[2], snaps[3]};
    std::sort(present[phase_index(ReplicatePhase::snapshots)].begin(),
              present[phase_index(ReplicatePhase::snapshots)].end());
    auto keep = std::optional(std::chrono::seconds(2 * k_day));

    // s0 and the pack are gone (the hand-put file is not ours, so it is never pending).
    CHECK(note_source_deletions(ledger, present, keep, k_t0));
    CHECK_FALSE(note_source_deletions(ledger, present, keep, k_t0 + k_day)); // first time kept
    Destination d("usb", "/mnt/usb");
    d.keep_deleted = keep;
    auto early = plan_deletions(ledger, d, k_t0 + k_day, {});
    CHECK(early.pending_files == 2);
    CHECK(early.pending_bytes == 5100);
    CHECK(early.due_files == 0);
    CHECK(early.next_due == k_t0 + 2 * k_day);
    auto due = plan_deletions(ledger, d, k_t0 + 2 * k_day, {});
    CHECK(due.due_files == 2);
    CHECK(due.due[phase_index(ReplicatePhase::snapshots)] == std::vector{snaps[0]});
    CHECK(due.due[phase_index(ReplicatePhase::data)] == std::vector{pack});
    CHECK_FALSE(due.held_because); // 1 of 4 snapshots: 25%
    CHECK(plan_deletions(ledger, d, k_t0 + 2 * k_day, {true, true}).held_because); // frozen
    d.hold_above_bytes = 1000;
    auto big = plan_deletions(ledger, d, k_t0 + 2 * k_day, {});
    REQUIRE(big.held_because);
    CHECK(big.held_because->find("more than") != std::string::npos);
    CHECK_FALSE(plan_deletions(ledger, d, k_t0 + 2 * k_day, {false, true}).held_because);
    d.hold_above_bytes.reset();

    // The pack comes back: its deletion is cancelled.
    present[phase_index(ReplicatePhase::data)] = {pack};
    CHECK(note_source_deletions(ledger, present, keep, k_t0 + k_day));
    CHECK(plan_deletions(ledger, d, k_t0 + 3 * k_day, {}).due_files == 1);

    // Three of four snapshots gone at once: 75% > 50%, held.
    present[phase_index(ReplicatePhase::snapshots)] = {snaps[3]};
    note_source_deletions(ledger, present, keep, k_t0 + k_day);
    auto wipe = plan_deletions(ledger, d, k_t0 + 3 * k_day, {});
    CHECK(wipe.due_snapshots == 3);
    REQUIRE(wipe.held_because);
    CHECK(wipe.held_because->find("3 of its 4 snapshots") != std::string::npos);

    // forever: nothing pending, and nothing is ever due.
    CHECK(note_source_deletions(ledger, present, std::nullopt, k_t0 + 4 * k_day));
    d.keep_deleted.reset();
    auto never = plan_deletions(ledger, d, k_t0 + 400 * k_day, {});
    CHECK(never.pending_files == 0);
    CHECK_FALSE(never.next_due);
}

TEST_CASE("retention: the hold file: written, read strictly, removed") {
    auto dir = test::temp_dir("unit-retention");
    fs::create_directories(dir.path() / "replicate");
    std::string path = replica_hold_path(dir.str(), "usb");
    CHECK(path == dir.str() + "/replicate/usb.hold.json");
    auto none = read_replica_hold(path, "usb");
    REQUIRE(none);
    CHECK_FALSE(*none);
    REQUIRE(write_replica_hold(path, {"usb", "2027-01-15T08:00:00.000Z"}));
    CHECK((fs::status(path).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    auto held = read_replica_hold(path, "usb");
    REQUIRE(held);
    REQUIRE(*held);
    CHECK((*held)->since == "2027-01-15T08:00:00.000Z");
    CHECK_FALSE(read_replica_hold(path, "other"));
    auto json = replica_hold_to_json({"usb", "not a time"});
    CHECK_FALSE(replica_hold_from_json(json, "x", "usb"));
    CHECK(remove_replica_hold(path).value());
    CHECK_FALSE(remove_replica_hold(path).value());
}

TEST_CASE("retention: a local destination deletes what was pruned, keep_deleted later, in "
          "the order snapshots, index, data") {
    Setup s(std::chrono::seconds(2 * k_day));
    std::vector<Backup> backups;
    for (int i = 0; i < 3; ++i) {
        backups.push_back(backup_of(s.source, i));
    }
    // Put there by hand: never deleted, whatever happens at the source.
    std::string stray = replica_path(ReplicatePhase::data, id_of("by hand"));
    fs::create_directories((s.dest / stray).parent_path());
    REQUIRE(util::atomic_write((s.dest / stray).string(), "by hand", 0400));

    auto first = s.run_at(k_t0);
    INFO(s.log());
    CHECK(first.state == ReplicaState::ok);
    REQUIRE(first.keep_deleted);
    prune(s.source, backups[0]);
    auto seen = s.run_at(k_t0 + k_day);
    CHECK(seen.state == ReplicaState::ok);
    CHECK(seen.pending_deletions == 3);
    CHECK(seen.next_deletion_due == k_t0 + 3 * k_day);
    CHECK(s.there(backups[0].snapshot));
    auto still = s.run_at(k_t0 + 3 * k_day - 1);
    CHECK(still.deleted[phase_index(ReplicatePhase::snapshots)].files == 0);
    CHECK(s.there(backups[0].pack));

    std::vector<std::string> order;
    auto due = s.run_at(k_t0 + 3 * k_day);
    CHECK(due.state == ReplicaState::ok);
    for (const auto& line : s.lines) {
        for (auto phase : {"snapshots", "index", "data"}) {
            if (line.find(fmt::format("usb: {}: deleted 1 file", phase)) != std::string::npos) {
                order.emplace_back(phase);
            }
        }
    }
    CHECK(order == std::vector<std::string>{"snapshots", "index", "data"});
    for (const auto* f : {&backups[0].snapshot, &backups[0].index, &backups[0].pack}) {
        CHECK_FALSE(s.there(*f));
    }
    CHECK(s.there(backups[1].pack));
    CHECK(s.there("config"));
    CHECK(s.there(stray));
    CHECK(due.pending_deletions == 0);
    CHECK(due.last_deletion);
    auto ledger = read_replica_ledger(replica_ledger_path(s.job.state_dir->string(), "usb"));
    REQUIRE(ledger);
    REQUIRE(*ledger);
    CHECK_FALSE((*ledger)->contains(ReplicatePhase::data, id_of("pack 0")));
    CHECK((*ledger)->contains(ReplicatePhase::data, id_of("by hand")));

    // The source loses everything (the hand-put file is never pending): held, nothing deleted
    // until confirmed; the status says so.
    for (int i = 1; i < 3; ++i) {
        prune(s.source, backups[i]);
    }
    s.run_at(k_t0 + 4 * k_day);
    auto held = s.run_at(k_t0 + 7 * k_day);
    CHECK(held.state == ReplicaState::deletion_held);
    REQUIRE(held.held_because);
    CHECK(held.held_because->find("2 of its 2 snapshots") != std::string::npos);
    CHECK(s.there(backups[1].snapshot));
    CHECK(held.pending_deletions == 6);
    auto status = read_replicate_status(*s.job.state_dir);
    REQUIRE(status);
    REQUIRE(*status);
    CHECK((*status)->exit_code == 1);
    REQUIRE((*status)->destinations[0].retention);
    CHECK((*status)->destinations[0].state == "deletion held");
    CHECK((*status)->destinations[0].retention->keep_deleted == "2d");
    CHECK((*status)->destinations[0].retention->pending_files == 6);
    CHECK((*status)->destinations[0].retention->last_deletion); // carried over

    // Frozen: even a confirmation deletes nothing; released and confirmed, it does.
    std::string hold = replica_hold_path(s.job.state_dir->string(), "usb");
    REQUIRE(write_replica_hold(hold, {"usb", "2027-01-15T08:00:00.000Z"}));
    s.job.confirm_deletions = {"usb"};
    auto frozen = s.run_at(k_t0 + 8 * k_day);
    CHECK(frozen.state == ReplicaState::deletion_held);
    CHECK(frozen.frozen);
    CHECK(s.there(backups[2].snapshot));
    REQUIRE(remove_replica_hold(hold));
    auto confirmed = s.run_at(k_t0 + 8 * k_day);
    CHECK(confirmed.state == ReplicaState::ok);
    CHECK_FALSE(s.there(backups[2].snapshot));
    CHECK_FALSE(s.there(backups[1].pack));
    CHECK(s.there(stray));
    CHECK(s.there("config"));
}

TEST_CASE("retention: files a schema-1 ledger or a listing found, and forever, are never "
          "deleted") {
    Setup s(std::nullopt);
    auto b = backup_of(s.source, 0);
    s.run_at(k_t0);
    // Forever: copies are recorded, a prune is never mirrored.
    prune(s.source, b);
    auto forever = s.run_at(k_t0 + k_day);
    CHECK(forever.pending_deletions == 0);
    CHECK(s.there(b.pack));
    // Switched to 1d: counted from the run that sees the files gone under it.
    s.destination().keep_deleted = std::chrono::seconds(k_day);
    auto switched = s.run_at(k_t0 + 10 * k_day);
    CHECK(switched.pending_deletions == 3);
    CHECK(switched.next_deletion_due == k_t0 + 11 * k_day);
    CHECK(s.there(b.pack));

    // A replica written by an earlier version: its schema-1 ledger lists files as found only.
    Setup old{std::chrono::seconds(k_day)};
    auto ob = backup_of(old.source, 0);
    backup_of(old.source, 1);
    old.run_at(k_t0);
    std::string path = replica_ledger_path(old.job.state_dir->string(), "usb");
    auto ledger = read_replica_ledger(path);
    REQUIRE(ledger);
    REQUIRE(*ledger);
    auto json = replica_ledger_to_json(**ledger);
    json["schema"] = 1;
    json.erase("copied");
    // Where and how an earlier version kept it: <name>.json, no ledger file, no journal.
    fs::remove(path);
    fs::remove(fs::path(path).replace_extension(".journal"));
    REQUIRE(util::write_json_file(fs::path(path).replace_extension(".json").string(), json, 0600));
    prune(old.source, ob);
    old.run_at(k_t0 + k_day);
    auto later = old.run_at(k_t0 + 5 * k_day);
    CHECK(later.pending_deletions == 0);
    CHECK(old.there(ob.snapshot));
    CHECK(old.there(ob.pack));
}
