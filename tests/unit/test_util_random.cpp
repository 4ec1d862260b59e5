#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "util/random.hpp"

using namespace backup::util;

TEST_CASE("random_bytes returns the requested count and differs between calls") {
    auto a = random_bytes(32);
    auto b = random_bytes(32);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->size() == 32);
    CHECK(*a != *b);
}

TEST_CASE("random_token uses only the alphabet, at the requested length") {
    auto token = random_token(40, "abc");
    REQUIRE(token);
    CHECK(token->size() == 40);
    CHECK(token->find_first_not_of("abc") == std::string::npos);
}

TEST_CASE("random_token spreads over the whole alphabet") {
    // 36 symbols (not a divisor of 256): without rejection sampling the first 4 would be
    // visibly more frequent. 36,000 draws: each symbol expected 1000 times.
    auto token = random_token(36000, k_upper_alphanumeric);
    REQUIRE(token);
    std::map<char, int> counts;
    for (char c : *token) {
        ++counts[c];
    }
    CHECK(counts.size() == 36);
    for (const auto& [c, n] : counts) {
        INFO("symbol " << c);
        CHECK(n > 800);
        CHECK(n < 1200);
    }
}

TEST_CASE("random_token refuses a degenerate alphabet") {
    CHECK_FALSE(random_token(8, "a"));
}
