#include "util/dir.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>

using namespace backup::util;
namespace fs = std::filesystem;

TEST_CASE("dir: entries sorted, with their own type, links not followed") {
    auto dir = TempDir::create_in_tmp("unit-dir");
    REQUIRE(dir);
    auto p = dir->path();
    REQUIRE(atomic_write((p / "b").string(), "x", 0644));
    fs::create_directory(p / "a");
    fs::create_symlink(p / "a", p / "c");
    auto entries = read_directory(p.string());
    REQUIRE(entries);
    REQUIRE(entries->size() == 3);
    CHECK((*entries)[0].name == "a");
    CHECK((*entries)[0].type == EntryType::directory);
    CHECK((*entries)[1].name == "b");
    CHECK((*entries)[1].type == EntryType::regular);
    CHECK((*entries)[2].name == "c");
    CHECK((*entries)[2].type == EntryType::symlink);
}

TEST_CASE("dir: a missing directory is an error with its errno, or empty when asked") {
    auto missing = read_directory("/nonexistent/dir");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().errno_code() == ENOENT);
    CHECK(missing.error().message().find("/nonexistent/dir") != std::string::npos);
    auto empty = read_directory("/nonexistent/dir", IfMissing::empty);
    REQUIRE(empty);
    CHECK(empty->empty());
}

TEST_CASE("dir: an open directory is read from its start, and stays open") {
    auto dir = TempDir::create_in_tmp("unit-dir");
    REQUIRE(dir);
    REQUIRE(atomic_write((dir->path() / "one").string(), "x", 0644));
    auto fd = open_fd(dir->str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd);
    for (int i = 0; i < 2; ++i) {
        auto entries = read_directory_fd(fd->get(), dir->str());
        REQUIRE(entries);
        REQUIRE(entries->size() == 1);
        CHECK((*entries)[0].name == "one");
    }
}
