// restic-replicate's building blocks: phases and paths, the source listing and verifier, the
// ledger format, destination arguments and backup-syncd's snapshot id files.
#include "replicate/command.hpp"
#include "replicate/rclone_store.hpp"
#include "replicate/replicate.hpp"
#include "state/snapshot_ids.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <filesystem>
#include <regex>
#include <string>

using namespace backup;
using namespace backup::core;
namespace fs = std::filesystem;

namespace {

using backup::test::k_id;

void write(const fs::path& path, const std::string& content) {
    fs::create_directories(path.parent_path());
    REQUIRE(util::atomic_write(path.string(), content, 0644));
}

} // namespace

TEST_CASE("replicate: phases, their files and their paths") {
    CHECK(replicate_phase(RepoFileKind::key) == ReplicatePhase::keys);
    CHECK(replicate_phase(RepoFileKind::config) == ReplicatePhase::config);
    CHECK(replicate_phase(RepoFileKind::pack) == ReplicatePhase::data);
    CHECK(replicate_phase(RepoFileKind::index) == ReplicatePhase::index);
    CHECK(replicate_phase(RepoFileKind::snapshot) == ReplicatePhase::snapshots);
    CHECK_FALSE(replicate_phase(RepoFileKind::lock));
    CHECK_FALSE(replicate_phase(RepoFileKind::misplaced_pack));
    CHECK_FALSE(replicate_phase(RepoFileKind::other));
    CHECK(replica_path(ReplicatePhase::data, k_id) == "data/ab/" + k_id);
    CHECK(replica_path(ReplicatePhase::keys, k_id) == "keys/" + k_id);
    CHECK(replica_path(ReplicatePhase::snapshots, k_id) == "snapshots/" + k_id);
    CHECK(replica_path(ReplicatePhase::config, k_id) == "config");
    CHECK(is_replica_temporary_name(k_id + ".restic-replicate-tmp-AbC123"));
    CHECK_FALSE(is_replica_temporary_name(k_id + "-tmp-123"));
    CHECK(rclone_join("b2:bucket/web1", "config") == "b2:bucket/web1/config");
    CHECK(rclone_join("b2:bucket/web1/", "config") == "b2:bucket/web1/config");
    CHECK(rclone_join("b2:", "config") == "b2:config");
}

TEST_CASE("replicate: the source listing takes repository files only, sorted per phase") {
    auto dir = test::temp_dir("unit-replicate-formats");
    fs::path root = dir.path() / "repo";
    std::string pack = "a pack";
    std::string snapshot = "a snapshot";
    write(root / "config", "the config");
    fs::permissions(root / "config", fs::perms::owner_read | fs::perms::owner_write);
    write(root / replica_path(ReplicatePhase::data, util::sha256_hex(pack)), pack);
    write(root / replica_path(ReplicatePhase::snapshots, util::sha256_hex(snapshot)), snapshot);
    write(root / "locks" / k_id, "a lock");
    write(root / "index" / (k_id + ".rest-server-temp"), "temp");
    write(root / "data" / k_id, "misplaced");
    write(root / "data/cd" / k_id, "misplaced too");
    fs::create_directories(root / "keys");
    fs::create_symlink("/etc/passwd", root / "keys" / k_id);
    auto repo = list_source_repository(root.string());
    REQUIRE(repo);
    CHECK(repo->config == "the config");
    CHECK_FALSE(repo->group_readable);
    CHECK(repo->ids[phase_index(ReplicatePhase::data)] ==
          std::vector<std::string>{util::sha256_hex(pack)});
    CHECK(repo->ids[phase_index(ReplicatePhase::snapshots)] ==
          std::vector<std::string>{util::sha256_hex(snapshot)});
    CHECK(repo->ids[phase_index(ReplicatePhase::keys)].empty()); // a symlink is never copied
    CHECK(repo->ids[phase_index(ReplicatePhase::index)].empty());
    CHECK(repo->ignored == 4); // temp, two misplaced packs, symlink (locks/ is not read)
    CHECK(repo->file_count() == 3);
    CHECK(repo->snapshot_time(util::sha256_hex(snapshot)) > 0);
    CHECK(repo->snapshot_time(k_id) == 0);

    fs::permissions(root / "config", fs::perms::group_read, fs::perm_options::add);
    CHECK(list_source_repository(root.string())->group_readable);

    auto empty = list_source_repository((dir.path()).string());
    REQUIRE(empty);
    CHECK_FALSE(empty->config);
    CHECK(empty->file_count() == 0);
    auto missing = list_source_repository((dir.path() / "missing").string());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == util::ExitCode::permanent);
}

TEST_CASE("replicate: the verifier hashes each file once and tells corrupt from vanished") {
    auto dir = test::temp_dir("unit-replicate-formats");
    std::string good = "good pack";
    std::string good_path = replica_path(ReplicatePhase::data, util::sha256_hex(good));
    std::string bad_path = replica_path(ReplicatePhase::data, util::sha256_hex("original"));
    write(dir.path() / good_path, good);
    write(dir.path() / bad_path, "changed");
    write(dir.path() / "config", "any content");
    SourceVerifier verifier(dir.path().string());
    CHECK(verifier.verify(good_path).check == SourceCheck::good);
    CHECK(verifier.verify(good_path).size == good.size());
    const auto& bad = verifier.verify(bad_path);
    CHECK(bad.check == SourceCheck::corrupt);
    CHECK(bad.actual == util::sha256_hex("changed"));
    CHECK(bad.reason.find(util::sha256_hex("changed")) != std::string::npos);
    CHECK(verifier.verify("config").check == SourceCheck::good);
    CHECK(verifier.verify("data/ab/" + k_id).check == SourceCheck::vanished);
    // Remembered: a later change is not seen again within the run.
    fs::remove(dir.path() / good_path);
    CHECK(verifier.verify(good_path).check == SourceCheck::good);
}

TEST_CASE("replicate: a ledger survives a round trip and is read strictly") {
    ReplicaLedger ledger;
    ledger.name = "usb";
    ledger.kind = "local";
    ledger.target = "/mnt/usb/web1";
    ledger.config_sha256 = util::sha256_hex("config");
    ledger.ids[phase_index(ReplicatePhase::data)] = {k_id};
    ledger.ids[phase_index(ReplicatePhase::snapshots)] = {util::sha256_hex("s")};
    auto dir = test::temp_dir("unit-replicate-formats");
    std::string path = (dir.path() / "usb.json").string();
    REQUIRE(write_replica_ledger(path, ledger));
    CHECK_FALSE(ledger.updated.empty());
    auto back = read_replica_ledger(path);
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->target == ledger.target);
    CHECK((*back)->config_sha256 == ledger.config_sha256);
    CHECK((*back)->contains(ReplicatePhase::data, k_id));
    CHECK((*back)->file_count() == 2);
    CHECK((fs::status(path).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));

    auto missing = read_replica_ledger((dir.path() / "none.json").string());
    REQUIRE(missing);
    CHECK_FALSE(*missing);

    auto json = replica_ledger_to_json(ledger);
    auto other_schema = json;
    other_schema["schema"] = 4;
    CHECK_FALSE(replica_ledger_from_json(other_schema, "x"));
    auto bad_id = json;
    bad_id["files"]["index"] = util::Json::array({"not-an-id"});
    auto error = replica_ledger_from_json(bad_id, "x");
    REQUIRE_FALSE(error);
    CHECK(error.error().code() == util::ExitCode::permanent);
    CHECK(error.error().message().find("files.index") != std::string::npos);
    auto no_files = json;
    no_files.erase("files");
    CHECK_FALSE(replica_ledger_from_json(no_files, "x"));
    REQUIRE(util::atomic_write(path, "{ not json", 0600));
    CHECK_FALSE(read_replica_ledger(path));
}

TEST_CASE("replicate: destinations on the command line: absolute paths and named rclone remotes") {
    std::regex name_rule("[a-z0-9_-]{1,32}");
    auto local = parse_destination_argument("/mnt/USB disk/web1/");
    REQUIRE(local);
    CHECK(local->is_local());
    CHECK(local->path == "/mnt/USB disk/web1");
    CHECK(std::regex_match(local->name, name_rule));
    CHECK(local->name.starts_with("mnt-usb-disk-web1-"));
    auto remote = parse_destination_argument("b2:bucket/web1");
    REQUIRE(remote);
    CHECK(remote->remote == "b2:bucket/web1");
    CHECK(std::regex_match(remote->name, name_rule));
    // Stable, and different targets get different names.
    CHECK(parse_destination_argument("b2:bucket/web1")->name == remote->name);
    CHECK(parse_destination_argument("b2:bucket/web2")->name != remote->name);
    auto long_one = parse_destination_argument("/" + std::string(100, 'a'));
    REQUIRE(long_one);
    CHECK(std::regex_match(long_one->name, name_rule));

    CHECK_FALSE(parse_destination_argument("relative/dir"));
    CHECK_FALSE(parse_destination_argument(":s3,access_key_id=AKIA:bucket"));
    CHECK_FALSE(parse_destination_argument("s3:bucket,secret=x"));
}

TEST_CASE("replicate: backup-syncd's snapshot id files: each id followed by a NUL byte") {
    auto dir = test::temp_dir("unit-replicate-formats");
    std::string path = (dir.path() / "appeared").string();
    std::string other = util::sha256_hex("x");
    REQUIRE(util::atomic_write(path, k_id + '\0' + other + '\0', 0600));
    auto ids = read_snapshot_id_file(path);
    REQUIRE(ids);
    CHECK(*ids == std::vector<std::string>{k_id, other});
    REQUIRE(util::atomic_write(path, "", 0600));
    CHECK(read_snapshot_id_file(path)->empty());
    REQUIRE(util::atomic_write(path, k_id, 0600));
    CHECK_FALSE(read_snapshot_id_file(path));
    REQUIRE(util::atomic_write(path, std::string("nope") + '\0', 0600));
    CHECK_FALSE(read_snapshot_id_file(path));
    CHECK_FALSE(read_snapshot_id_file((dir.path() / "missing").string()));
}

namespace {

bool same_ledger(const ReplicaLedger& a, const ReplicaLedger& b) {
    if (a.ids != b.ids || a.config_sha256 != b.config_sha256 || a.updated != b.updated) {
        return false;
    }
    for (std::size_t i = 0; i < a.copied.size(); ++i) {
        if (a.copied[i].size() != b.copied[i].size()) {
            return false;
        }
        for (const auto& [id, file] : a.copied[i]) {
            auto other = b.copied[i].find(id);
            if (other == b.copied[i].end() || other->second.size != file.size ||
                other->second.gone_since != file.gone_since) {
                return false;
            }
        }
    }
    return true;
}

std::string nth_id(int n) {
    return util::sha256_hex(std::to_string(n));
}

} // namespace

TEST_CASE("replicate: a ledger saved by appending to its journal reads back the same") {
    auto dir = test::temp_dir("unit-replicate-formats");
    std::string path = (dir.path() / "usb.ledger").string();
    std::string journal = (dir.path() / "usb.journal").string();
    ReplicaLedger ledger;
    ledger.name = "usb";
    ledger.kind = "local";
    ledger.target = "/mnt/usb/web1";
    for (int i = 0; i < 2000; ++i) {
        ledger.add_copied(ReplicatePhase::data, nth_id(i), 100 + static_cast<std::uint64_t>(i));
    }
    ReplicaLedgerFile file(path);
    REQUIRE(file.read());
    REQUIRE(file.save(ledger)); // no ledger yet: a whole write
    auto whole_size = fs::file_size(path);

    // Every kind of change, saved one step at a time as a run does; each step appends only.
    ReplicaLedgerFile run(path);
    auto first = run.read();
    REQUIRE(first);
    REQUIRE(*first != nullptr);
    CHECK(same_ledger(**first, ledger));
    ledger.add_copied(ReplicatePhase::index, nth_id(5000), 7);
    ledger.ids[phase_index(ReplicatePhase::keys)].insert(nth_id(5001)); // found there
    ledger.remove(ReplicatePhase::data, nth_id(3));
    ledger.copied[phase_index(ReplicatePhase::data)][nth_id(4)].gone_since = 1700000000;
    ledger.config_sha256 = util::sha256_hex("config");
    REQUIRE(run.save(ledger));
    ledger.copied[phase_index(ReplicatePhase::data)][nth_id(4)].gone_since.reset();
    ledger.ids[phase_index(ReplicatePhase::data)].insert(nth_id(6)); // copied -> merely found
    ledger.copied[phase_index(ReplicatePhase::data)].erase(nth_id(6));
    ledger.add_copied(ReplicatePhase::snapshots, nth_id(5002), 300);
    REQUIRE(run.save(ledger));
    CHECK(fs::file_size(path) == whole_size); // the ledger file was not rewritten
    auto back = read_replica_ledger(path);
    REQUIRE(back);
    REQUIRE(*back);
    CHECK(same_ledger(**back, ledger));

    SECTION("a torn last line is dropped, and the next save writes over it") {
        std::string text = *util::read_file(journal);
        std::string torn = text + "c data " + nth_id(9000) + " 5 0bad";
        REQUIRE(util::atomic_write(journal, torn, 0600));
        auto read = read_replica_ledger(path);
        REQUIRE(read);
        CHECK(same_ledger(**read, ledger)); // nth_id(9000) is not claimed
        ReplicaLedgerFile again(path);
        REQUIRE(again.read());
        ledger.add_copied(ReplicatePhase::index, nth_id(9001), 9);
        REQUIRE(again.save(ledger));
        auto after = read_replica_ledger(path);
        REQUIRE(after);
        CHECK(same_ledger(**after, ledger));
        CHECK(util::read_file(journal)->find("0bad") == std::string::npos);
    }
    SECTION("a line whose check fails ends the journal there") {
        std::string text = *util::read_file(journal);
        auto at = text.find("+ keys");
        REQUIRE(at != std::string::npos);
        text[at] = 'c'; // no longer matches its check
        REQUIRE(util::atomic_write(journal, text, 0600));
        auto read = read_replica_ledger(path);
        REQUIRE(read);
        CHECK_FALSE((*read)->contains(ReplicatePhase::keys, nth_id(5001)));
        CHECK_FALSE((*read)->contains(ReplicatePhase::snapshots, nth_id(5002)));
    }
    SECTION("a journal left from before a whole write is not read") {
        std::string old_journal = *util::read_file(journal);
        ReplicaLedger fresh = ledger;
        fresh.ids[phase_index(ReplicatePhase::snapshots)].clear();
        fresh.copied[phase_index(ReplicatePhase::snapshots)].clear();
        REQUIRE(write_replica_ledger(path, fresh));
        // As after a crash between the ledger's rename and the journal's: the old journal.
        REQUIRE(util::atomic_write(journal, old_journal, 0600));
        auto read = read_replica_ledger(path);
        REQUIRE(read);
        CHECK(same_ledger(**read, fresh));
    }
    SECTION("a save told that one phase changed compares only that one") {
        ReplicaLedgerFile again(path);
        REQUIRE(again.read());
        ledger.add_copied(ReplicatePhase::data, nth_id(7000), 1);
        ledger.add_copied(ReplicatePhase::index, nth_id(7001), 1); // not looked at by the first
        REQUIRE(again.save(ledger, ReplicatePhase::data));
        auto partial = read_replica_ledger(path);
        REQUIRE(partial);
        CHECK((*partial)->contains(ReplicatePhase::data, nth_id(7000)));
        CHECK_FALSE((*partial)->contains(ReplicatePhase::index, nth_id(7001)));
        REQUIRE(again.save(ledger));
        auto all = read_replica_ledger(path);
        REQUIRE(all);
        CHECK(same_ledger(**all, ledger));
    }
    SECTION("a journal grown past a quarter of the ledger is folded into a whole write") {
        ReplicaLedgerFile many(path);
        REQUIRE(many.read());
        for (int i = 0; i < 600; ++i) {
            ledger.add_copied(ReplicatePhase::data, nth_id(10000 + i), 1);
            REQUIRE(many.save(ledger));
        }
        CHECK(fs::file_size(path) > whole_size);
        CHECK(fs::file_size(journal) < 100 * 600);
        auto read = read_replica_ledger(path);
        REQUIRE(read);
        CHECK(same_ledger(**read, ledger));
    }
}
