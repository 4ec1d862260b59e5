#include <catch2/catch.hpp>

#include "util/fs.hpp"
#include "util/json.hpp"

using namespace backup::util;

TEST_CASE("json files round-trip and bad JSON names the file") {
    auto dir = TempDir::create_in_tmp("unit-json");
    REQUIRE(dir);
    std::string path = dir->str() + "/status.json";
    Json value = {{"schema", 1}, {"name", std::string("bad \xff byte")}, {"n", 3}};
    REQUIRE(write_json_file(path, value));
    auto back = read_json_file(path);
    REQUIRE(back);
    CHECK((*back)["schema"] == 1);
    CHECK((*back)["n"] == 3);
    CHECK((*back)["name"].get<std::string>().find("bad ") == 0);

    REQUIRE(atomic_write(path, "{not json", 0644));
    auto bad = read_json_file(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == ExitCode::permanent);
    CHECK(bad.error().message().find(path) != std::string::npos);
}
