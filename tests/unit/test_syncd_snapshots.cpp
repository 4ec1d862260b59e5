#include <catch2/catch.hpp>

#include <filesystem>

#include "state/snapshot_ids.hpp"
#include "state/syncd_state.hpp"
#include "syncd/lister.hpp"
#include "syncd/snapshots.hpp"
#include "util/fs.hpp"

using namespace backup::core;
using namespace backup::util;
using namespace std::chrono_literals;

namespace {
std::string id(char c) {
    return std::string(64, c);
}
} // namespace

TEST_CASE("list_snapshot_ids keeps only 64-hex regular files") {
    auto dir = TempDir::create_in_tmp("unit-syncd");
    REQUIRE(dir);
    auto p = dir->path();
    REQUIRE(atomic_write((p / id('a')).string(), "x", 0644));
    REQUIRE(atomic_write((p / (id('b') + ".rest-server-temp")).string(), "x", 0644));
    REQUIRE(atomic_write((p / "stray").string(), "x", 0644));
    std::filesystem::create_directory(p / id('c'));
    std::filesystem::create_symlink(p / id('a'), p / id('d'));
    auto ids = list_snapshot_ids(p);
    REQUIRE(ids);
    CHECK(*ids == SnapshotIds{id('a')});
}

TEST_CASE("a missing watch directory is an error, not an empty set") {
    auto ids = list_snapshot_ids("/nonexistent/snapshots");
    REQUIRE_FALSE(ids);
    CHECK(ids.error().message().find("/nonexistent/snapshots") != std::string::npos);
}

TEST_CASE("diff_snapshots names what appeared and what went") {
    auto d = diff_snapshots({id('a'), id('b')}, {id('b'), id('c')});
    CHECK(d.appeared == std::vector<std::string>{id('c')});
    CHECK(d.gone == std::vector<std::string>{id('a')});
    CHECK(diff_snapshots({id('a')}, {id('a')}).empty());
}

TEST_CASE("ID files are NUL-terminated and round-trip") {
    auto dir = TempDir::create_in_tmp("unit-syncd");
    REQUIRE(dir);
    auto path = dir->path() / "appeared";
    REQUIRE(write_snapshot_id_file(path.string(), {id('a'), id('b')}));
    CHECK(*read_file(path.string()) == id('a') + '\0' + id('b') + '\0');
    CHECK(*read_snapshot_id_file(path.string()) == std::vector<std::string>{id('a'), id('b')});
    REQUIRE(write_snapshot_id_file(path.string(), {}));
    CHECK(read_file(path.string())->empty());
    REQUIRE(atomic_write(path.string(), id('a'), 0644));
    CHECK_FALSE(read_snapshot_id_file(path.string()));
}

TEST_CASE("retry delays double and are capped") {
    CHECK(retry_delay(1, 5s, 60s) == 5s);
    CHECK(retry_delay(2, 5s, 60s) == 10s);
    CHECK(retry_delay(4, 5s, 60s) == 40s);
    CHECK(retry_delay(5, 5s, 60s) == 60s);
    CHECK(retry_delay(1000, 5s, 60s) == 60s);
}

TEST_CASE("sync state round-trips, a bad state file is refused") {
    auto dir = TempDir::create_in_tmp("unit-syncd");
    REQUIRE(dir);
    auto fresh = read_sync_state(dir->path());
    REQUIRE(fresh);
    CHECK_FALSE(fresh->initialized);
    SyncState s;
    s.synced = {id('a'), id('f')};
    REQUIRE(write_sync_state(dir->path(), s));
    auto back = read_sync_state(dir->path());
    REQUIRE(back);
    CHECK(back->initialized);
    CHECK(back->synced == s.synced);
    REQUIRE(atomic_write((dir->path() / "backup-syncd.json").string(),
                         R"({"schema": 1, "synced": ["../etc"]})", 0644));
    CHECK_FALSE(read_sync_state(dir->path()));
}

TEST_CASE("an rclone listing gives only 64-hex names, never temporary names or strays") {
    std::string listing = id('a') + "\n" + id('b') + ".tmp-1234\n" + "stray\n" + id('C') + "\n" +
                          id('c') + "/\n" + id('d') + "\r\n" + "\n" + std::string(63, 'e') + "\n" +
                          id('f');
    CHECK(snapshot_ids_from_lsf(listing) == SnapshotIds{id('a'), id('d'), id('f')});
    CHECK(snapshot_ids_from_lsf("").empty());
}

TEST_CASE("an rclone --format tsp listing gives each snapshot's UTC time and size, in id order") {
    std::string listing = "2026-12-01 10:00:05;412;" + id('b') + "\n" + "2026-12-01 09:00:00;300;" +
                          id('a') + "\r\n" + "2026-12-01 09:00:00;12;" + id('c') + ".tmp\n" +
                          "garbage\n" + "bad time;x;" + id('d') + "\n";
    auto objects = snapshot_objects_from_lsf(listing);
    REQUIRE(objects.size() == 3);
    CHECK(objects[0].id == id('a'));
    CHECK(objects[0].time == 1796115600);
    CHECK(objects[0].size == 300);
    CHECK(objects[1].id == id('b'));
    CHECK(objects[1].time == 1796119205);
    CHECK(objects[1].size == 412);
    CHECK(objects[2].id == id('d'));
    CHECK_FALSE(objects[2].time);
    CHECK(objects[2].size == 0);
}

TEST_CASE("the remote listing record keeps its error and objects through a write and a read") {
    auto dir = TempDir::create_in_tmp("unit-remote-listing");
    REQUIRE(dir);
    CHECK(read_remote_listing(dir->path()).value() == std::nullopt);
    RemoteListing l;
    l.remote = "store:backups/web1";
    l.listed = 1796115600;
    l.error = "list store:backups/web1/snapshots/: connection refused";
    l.snapshots = {{id('a'), 1796115000, 300}, {id('b'), std::nullopt, 0}};
    REQUIRE(write_remote_listing(dir->path(), l));
    auto back = read_remote_listing(dir->path());
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->remote == l.remote);
    CHECK((*back)->listed == l.listed);
    CHECK((*back)->error == l.error);
    REQUIRE((*back)->snapshots.size() == 2);
    CHECK((*back)->snapshots[0].time == 1796115000);
    CHECK_FALSE((*back)->snapshots[1].time);
}

TEST_CASE("two listings compared: what appeared, what went, nothing for the same set") {
    SnapshotIds synced = snapshot_ids_from_lsf(id('a') + "\n" + id('b') + "\n");
    auto same = diff_snapshots(synced, snapshot_ids_from_lsf(id('b') + "\nx\n" + id('a')));
    CHECK(same.empty());
    auto next = diff_snapshots(synced, snapshot_ids_from_lsf(id('b') + "\n" + id('c') + "\n"));
    CHECK(next.appeared == std::vector<std::string>{id('c')});
    CHECK(next.gone == std::vector<std::string>{id('a')});
}

TEST_CASE("rclone's reason is its last ERROR line without the timestamp") {
    ProcessResult r;
    r.wait_status = 5 << 8;
    r.err = "2026/12/02 12:20:48 ERROR : error listing: connection refused\n"
            "2026/12/02 12:20:48 NOTICE: something else\n";
    CHECK(rclone_failure(r) == "ERROR : error listing: connection refused (exited with status 5)");
    r.err.clear();
    CHECK(rclone_failure(r) == "exited with status 5");
}

TEST_CASE("the remote lister watches REMOTE/snapshots, with or without a path or a slash") {
    CHECK(RcloneSnapshotLister("store:bkt/web1/", {}).watched() == "store:bkt/web1/snapshots");
    CHECK(RcloneSnapshotLister("store:", {}).watched() == "store:snapshots");
    CHECK(RcloneSnapshotLister("store:bkt", {}).repository() == "store:bkt");
}
