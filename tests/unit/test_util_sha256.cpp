#include <catch2/catch.hpp>

#include "util/fs.hpp"
#include "util/sha256.hpp"

using namespace backup::util;

TEST_CASE("sha256 of known vectors") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("streaming updates equal one update, and finish starts over") {
    Sha256 h;
    h.update("a");
    h.update("bc");
    CHECK(to_hex(h.finish()) == sha256_hex("abc"));
    h.update("");
    CHECK(to_hex(h.finish()) == sha256_hex(""));
}

TEST_CASE("sha256_file hashes a file larger than one read chunk") {
    auto dir = TempDir::create_in_tmp("unit-sha256");
    REQUIRE(dir);
    std::string data(3 * (1 << 20) + 17, 'x');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>(i * 7919 % 251);
    }
    std::string path = dir->str() + "/blob";
    REQUIRE(atomic_write(path, data, 0600));
    for (bool drop : {false, true}) {
        auto h = sha256_file(path, drop);
        REQUIRE(h);
        CHECK(h->hex == sha256_hex(data));
        CHECK(h->size == data.size());
    }
}

TEST_CASE("sha256_file reports a missing file by name") {
    auto h = sha256_file("/nonexistent/file");
    REQUIRE_FALSE(h);
    CHECK(h.error().message().find("/nonexistent/file") != std::string::npos);
}
