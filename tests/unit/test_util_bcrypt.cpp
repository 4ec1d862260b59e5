#include <catch2/catch.hpp>

#include "support/repository_files.hpp"

#include "util/bcrypt.hpp"

using namespace backup::util;

TEST_CASE("bcrypt hashes verify and are salted") {
    auto a = bcrypt_hash("correct horse", 4);
    auto b = bcrypt_hash("correct horse", 4);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->rfind("$2b$04$", 0) == 0);
    CHECK(a->size() == 60);
    CHECK(*a != *b);
    CHECK(backup::test::crypt_matches("correct horse", *a));
    CHECK_FALSE(backup::test::crypt_matches("wrong horse", *a));
}
