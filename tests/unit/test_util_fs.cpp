#include <catch2/catch.hpp>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.hpp"

using namespace backup::util;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

} // namespace

TEST_CASE("atomic_write creates the file with the exact mode and content") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    std::string path = dir->str() + "/state.json";
    ::umask(022);
    REQUIRE(atomic_write(path, "one", 0600));
    CHECK(*read_file(path) == "one");
    CHECK(mode_of(path) == 0600);
    REQUIRE(atomic_write(path, "two, longer", 0644));
    CHECK(*read_file(path) == "two, longer");
    CHECK(mode_of(path) == 0644);
    // No temp file left beside it.
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir->path())) {
        ++entries;
    }
    CHECK(entries == 1);
}

TEST_CASE("atomic_write into a missing directory fails and leaves nothing") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    auto r = atomic_write(dir->str() + "/missing/file", "x", 0600);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("missing") != std::string::npos);
    CHECK(fs::is_empty(dir->path()));
}

TEST_CASE("atomic_write does not replace the target when the rename fails") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    // A directory in the way: rename(file, non-empty dir) fails.
    std::string target = dir->str() + "/target";
    fs::create_directory(target);
    REQUIRE(atomic_write(target + "/inside", "keep", 0600));
    auto r = atomic_write(target, "new", 0600);
    REQUIRE_FALSE(r);
    CHECK(*read_file(target + "/inside") == "keep");
    int entries = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir->path())) {
        ++entries;
    }
    CHECK(entries == 1);
}

TEST_CASE("TempDir removes itself and everything in it") {
    fs::path kept;
    {
        auto dir = TempDir::create_in_tmp("unit-fs");
        REQUIRE(dir);
        kept = dir->path();
        CHECK(mode_of(kept.string()) == 0700);
        fs::create_directories(kept / "a/b");
        REQUIRE(atomic_write((kept / "a/b/c").string(), "x", 0600));
        fs::permissions(kept / "a/b", fs::perms::owner_read | fs::perms::owner_exec);
    }
    CHECK_FALSE(fs::exists(kept));
}

TEST_CASE("TempDir moves keep one owner") {
    auto a = TempDir::create_in_tmp("unit-fs");
    REQUIRE(a);
    fs::path p = a->path();
    TempDir b = std::move(*a);
    CHECK(a->path().empty());
    CHECK(b.path() == p);
    CHECK(fs::exists(p));
}

TEST_CASE("make_directories creates parents and sets the exact mode") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    std::string deep = dir->str() + "/x/y/secrets";
    ::umask(077);
    REQUIRE(make_directories(deep, 0700));
    CHECK(mode_of(deep) == 0700);
    CHECK(mode_of(dir->str() + "/x") == 0755);
    ::umask(022);
    REQUIRE(make_directories(deep, 0700)); // existing: fine
}

TEST_CASE("check_secret_file accepts 0600 owned by us and names the fix otherwise") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    std::string path = dir->str() + "/environ";
    REQUIRE(atomic_write(path, "x", 0600));
    CHECK(check_secret_file(path, {::getuid()}));

    ::chmod(path.c_str(), 0640);
    auto r = check_secret_file(path, {::getuid()});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ExitCode::permanent);
    CHECK(r.error().message().find("chmod 600 " + path) != std::string::npos);

    ::chmod(path.c_str(), 0600);
    auto wrong_owner = check_secret_file(path, {::getuid() + 12345});
    REQUIRE_FALSE(wrong_owner);
    CHECK(wrong_owner.error().message().find("chown") != std::string::npos);

    CHECK_FALSE(check_secret_file(dir->str(), {::getuid()})); // a directory
    CHECK_FALSE(check_secret_file(dir->str() + "/missing", {::getuid()}));
}

TEST_CASE("atomic_write below a DeferredSync root writes the same, fsync_tree flushes the tree") {
    auto dir = TempDir::create_in_tmp("unit-fs");
    REQUIRE(dir);
    std::string staged = dir->str() + "/staged";
    REQUIRE(make_directories(staged + "/conf/runsvdir", 0755));
    {
        DeferredSync deferred(staged);
        REQUIRE(atomic_write(staged + "/conf/client.yaml", "host: web1\n", 0644));
        REQUIRE(atomic_write(staged + "/conf/runsvdir/run", "#!/bin/sh\n", 0755));
        REQUIRE(atomic_write(dir->str() + "/outside", "kept\n", 0600)); // not deferred
    }
    CHECK(*read_file(staged + "/conf/client.yaml") == "host: web1\n");
    CHECK(mode_of(staged + "/conf/runsvdir/run") == 0755);
    CHECK(*read_file(dir->str() + "/outside") == "kept\n");
    // What a staged tree can hold besides files and directories is left alone: a dangling
    // symbolic link (never followed), a FIFO (never opened, which would block).
    REQUIRE(::symlink("/nonexistent/target", (staged + "/link").c_str()) == 0);
    REQUIRE(::mkfifo((staged + "/conf/fifo").c_str(), 0600) == 0);
    CHECK(fsync_tree(staged));
    auto missing = fsync_tree(dir->str() + "/none");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message().find("none") != std::string::npos);
}
