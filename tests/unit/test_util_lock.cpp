#include "util/fs.hpp"
#include "util/lock.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

using namespace backup::util;

TEST_CASE("lock: one holder at a time, released with the object") {
    auto dir = TempDir::create_in_tmp("unit-lock");
    REQUIRE(dir);
    std::string path = (dir->path() / "lock").string();
    {
        auto first = FileLock::try_acquire(path, 0600);
        REQUIRE(first);
        REQUIRE(*first);
        // flock locks belong to the open file: a second open in this process is refused too.
        auto second = FileLock::try_acquire(path, 0600);
        REQUIRE(second);
        CHECK_FALSE(*second);
        auto refused = FileLock::try_acquire_or_fail(path, 0600, "start the job", "another runs");
        REQUIRE_FALSE(refused);
        CHECK(refused.error().code() == ExitCode::temporary);
        // The holder's pid is in the file and in the message.
        std::string pid = std::to_string(::getpid());
        CHECK(read_file(path).value() == pid + "\n");
        CHECK(
            refused.error().message() ==
            fmt::format("unable to start the job: another runs (pid {}, it holds {})", pid, path));
    }
    auto again = FileLock::try_acquire(path, 0600);
    REQUIRE(again);
    CHECK(*again);
}

TEST_CASE("lock: a held directory lock is refused") {
    auto dir = TempDir::create_in_tmp("unit-lock");
    REQUIRE(dir);
    auto a = open_fd(dir->str(), O_RDONLY | O_DIRECTORY);
    auto b = open_fd(dir->str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(a);
    REQUIRE(b);
    auto held = FileLock::try_lock_fd(std::move(*a));
    CHECK(held);
    CHECK_FALSE(FileLock::try_lock_fd(std::move(*b)));
}
