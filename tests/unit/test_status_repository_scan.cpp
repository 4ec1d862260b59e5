// backup-status's single walk of a repository, against the way it was read before (a listing
// of snapshots/ with a stat of each by path, and a recursive_directory_iterator with lstat by
// path for the sizes) on generated trees.
#include "status/repository_scan.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fstream>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "model/repository.hpp"
#include "util/fs.hpp"

using namespace backup::core;
namespace fs = std::filesystem;

namespace {

struct OldWay {
    bool initialised = false;
    bool listed = false;
    std::size_t snapshots = 0;
    std::vector<std::int64_t> times;
    std::uint64_t disk = 0;
    std::uint64_t apparent = 0;
    bool walk_failed = false;
};

OldWay read_the_old_way(const fs::path& repo) {
    OldWay old;
    std::error_code ec;
    old.initialised = fs::exists(repo / "config", ec);
    if (auto ids = list_snapshot_ids(repo / "snapshots")) {
        old.listed = true;
        old.snapshots = ids->size();
        for (const auto& id : *ids) {
            struct stat st {};
            if (::stat((repo / "snapshots" / id).c_str(), &st) == 0) {
                old.times.push_back(st.st_mtim.tv_sec);
            }
        }
        std::sort(old.times.begin(), old.times.end());
    }
    for (const auto& dir : {repo.parent_path(), repo}) {
        struct stat st {};
        if (::lstat(dir.c_str(), &st) == 0) {
            old.apparent += static_cast<std::uint64_t>(st.st_size);
        }
    }
    for (auto it = fs::recursive_directory_iterator(repo, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) {
            continue;
        }
        old.apparent += static_cast<std::uint64_t>(st.st_size);
        if (!S_ISDIR(st.st_mode)) {
            old.disk += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
    }
    old.walk_failed = static_cast<bool>(ec);
    return old;
}

void check_same(const fs::path& repo) {
    OldWay old = read_the_old_way(repo);
    RepositoryScan scan = scan_repository(repo);
    CHECK(scan.initialised == old.initialised);
    REQUIRE(static_cast<bool>(scan.snapshots) == old.listed);
    if (old.listed) {
        CHECK(*scan.snapshots == old.snapshots);
    }
    CHECK(scan.snapshot_times == old.times);
    CHECK(scan.disk_bytes == old.disk);
    CHECK(scan.apparent_bytes == old.apparent);
    CHECK(scan.walk_error.has_value() == old.walk_failed);
}

std::string id_of(int n) {
    return fmt::format("{:064x}", n);
}

void write(const fs::path& path, const std::string& text, std::int64_t mtime) {
    std::ofstream(path) << text; // no fsync: a hundred files per case
    struct timeval times[2] = {{mtime, 0}, {mtime, 0}};
    REQUIRE(::utimes(path.c_str(), times) == 0);
}

// A repository as restic leaves it: config, keys, index, snapshots, data/XX packs of several
// sizes; plus what a repository may also hold (a lock, a stray name, a link, an empty dir).
fs::path make_repository(const fs::path& root) {
    fs::path repo = root / "data" / "web1";
    for (const char* dir :
         {"keys", "index", "snapshots", "locks", "data/00", "data/ab", "data/ff"}) {
        fs::create_directories(repo / dir);
    }
    write(repo / "config", "config", 1'700'000'000);
    write(repo / "keys" / id_of(1), "key", 1'700'000'000);
    for (int i = 1; i <= 25; ++i) {
        write(repo / "snapshots" / id_of(i), "snapshot", 1'700'000'000 + (i * 7919) % 86'400);
        write(repo / "index" / id_of(100 + i), std::string(static_cast<std::size_t>(i) * 10, 'i'),
              1'700'000'000);
        std::string pack = id_of(200 + i);
        const char* sub = i % 3 == 0 ? "00" : (i % 3 == 1 ? "ab" : "ff");
        write(repo / "data" / sub / pack, std::string(static_cast<std::size_t>(i) * 5000, 'p'),
              1'700'000'000);
    }
    write(repo / "snapshots" / "not-an-id", "x", 1'600'000'000);
    fs::create_directory(repo / "snapshots" / id_of(99)); // a directory with an id's name
    fs::create_symlink(repo / "config", repo / "snapshots" / id_of(98));
    write(repo / "locks" / id_of(300), "lock", 1'700'000'000);
    fs::create_symlink(repo / "data", repo / "data-link"); // not followed
    return repo;
}

} // namespace

TEST_CASE("repository scan: sizes and snapshot times agree with reading them by path") {
    auto dir = backup::util::TempDir::create_in_tmp("unit-scan");
    REQUIRE(dir);
    fs::path repo = make_repository(dir->path());
    check_same(repo);
    RepositoryScan scan = scan_repository(repo);
    REQUIRE(scan.snapshots);
    CHECK(*scan.snapshots == 25);
    CHECK(std::is_sorted(scan.snapshot_times.begin(), scan.snapshot_times.end()));
    CHECK(scan.disk_bytes > 25 * 5000);
    CHECK_FALSE(scan.walk_error);
}

TEST_CASE("repository scan: before restic init, and a repository that is not there") {
    auto dir = backup::util::TempDir::create_in_tmp("unit-scan");
    REQUIRE(dir);
    fs::path repo = dir->path() / "data" / "web1";
    check_same(repo); // missing: nothing listed, the walk fails
    fs::create_directories(repo);
    check_same(repo); // empty: no snapshots/ yet
    RepositoryScan empty = scan_repository(repo);
    CHECK_FALSE(empty.initialised);
    REQUIRE_FALSE(empty.snapshots);
    CHECK(empty.snapshots.error().message().find(repo.string() + "/snapshots") !=
          std::string::npos);
    CHECK_FALSE(empty.walk_error);
}

TEST_CASE("repository scan: snapshots/ as a link is listed through it, not counted in sizes") {
    auto dir = backup::util::TempDir::create_in_tmp("unit-scan");
    REQUIRE(dir);
    fs::path repo = make_repository(dir->path());
    fs::rename(repo / "snapshots", dir->path() / "elsewhere");
    fs::create_directory_symlink(dir->path() / "elsewhere", repo / "snapshots");
    check_same(repo);
    RepositoryScan scan = scan_repository(repo);
    REQUIRE(scan.snapshots);
    CHECK(*scan.snapshots == 25);
}

TEST_CASE("repository scan: a directory it cannot open is an error naming the repository") {
    if (::geteuid() == 0) {
        SUCCEED("root opens every directory");
        return;
    }
    auto dir = backup::util::TempDir::create_in_tmp("unit-scan");
    REQUIRE(dir);
    fs::path repo = make_repository(dir->path());
    fs::permissions(repo / "data" / "ab", fs::perms::none);
    RepositoryScan scan = scan_repository(repo);
    fs::permissions(repo / "data" / "ab", fs::perms::owner_all);
    REQUIRE(scan.walk_error);
    CHECK(*scan.walk_error == fmt::format("unable to read {}: Permission denied", repo.string()));
    CHECK(scan.snapshots);
}
