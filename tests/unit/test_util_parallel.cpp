// The one owner of worker threads: every index once, exceptions carried to the caller.
#include "util/parallel.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <stdexcept>
#include <vector>

using backup::util::parallel_for;

TEST_CASE("util: parallel_for calls the work once for every index") {
    for (std::size_t count : {0U, 1U, 7U, 1000U}) {
        std::vector<std::atomic<int>> calls(count);
        parallel_for(count, 4, [&](std::size_t i) { ++calls[i]; });
        for (std::size_t i = 0; i < count; ++i) {
            CHECK(calls[i] == 1);
        }
    }
}

TEST_CASE("util: parallel_for rethrows the first exception after every worker stopped") {
    std::atomic<int> running{0};
    CHECK_THROWS_WITH(parallel_for(100, 4,
                                   [&](std::size_t i) {
                                       ++running;
                                       --running;
                                       if (i == 10) {
                                           throw std::runtime_error("index 10");
                                       }
                                   }),
                      "index 10");
    CHECK(running == 0);
}
