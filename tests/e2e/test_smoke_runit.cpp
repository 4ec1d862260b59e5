// The runit fixture is real: runsvdir starts a linked service, sv sees it, and removing the link
// stops it.
#include <catch2/catch.hpp>

#include <thread>

#include "support/fixtures.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

TEST_CASE("runsvdir starts a linked service and stops it when the link goes", "[smoke][runit]") {
    auto dir = util::TempDir::create_in_tmp("e2e-runit");
    REQUIRE(dir);
    {
        RunsvdirTree tree(dir->path());
        tree.add_service("sleeper", "#!/bin/sh\nexec sleep 1000\n");
        pid_t pid = tree.wait_until_up("sleeper", 20s);
        CHECK(pid > 0);
        CHECK(tree.status("sleeper").starts_with("run: "));
        auto supervise_pid = util::read_file((dir->path() / "sv/sleeper/supervise/pid").string());
        REQUIRE(supervise_pid);
        CHECK(std::stoi(*supervise_pid) == pid);

        tree.unlink("sleeper");
        // runsvdir rescans at least every five seconds, then TERMs that runsv.
        CHECK(wait_for_pid_exit(pid, 20s));
        // runsv itself is gone too: nothing holds the service dir any more.
        std::this_thread::sleep_for(200ms);
        std::vector<pid_t> left;
        for (pid_t p : processes_using(dir->path())) {
            if (p != tree.runsvdir_pid()) {
                left.push_back(p);
            }
        }
        CHECK(left.empty());

        // And relinking brings it back with a new process.
        tree.link("sleeper");
        pid_t again = tree.wait_until_up("sleeper", 20s);
        CHECK(again != pid);
    }
    require_no_processes(dir->path());
}
