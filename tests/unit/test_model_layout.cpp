#include <catch2/catch.hpp>

#include "model/layout.hpp"

using namespace backup::core;

TEST_CASE("host names are DNS-like and safe as path components") {
    for (const char* good : {"web1", "a", "db-2", "web1.example.com", "0pi"}) {
        INFO(good);
        CHECK(validate_host_name(good));
    }
    for (const char* bad :
         {"", "Web1", "web_1", "../etc", "a/b", "-web", "web-", ".web", "a..b", "web 1", "wéb"}) {
        INFO(bad);
        auto r = validate_host_name(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == backup::util::ExitCode::permanent);
    }
    CHECK(validate_host_name(std::string(63, 'a')));
    CHECK_FALSE(validate_host_name(std::string(64, 'a')));
}

TEST_CASE("the server layout keeps the original paths") {
    ServerLayout layout("/backups");
    CHECK(layout.scan_dir() == "/backups/systems/conf/runit");
    CHECK(layout.enable_link("web1") == "/backups/systems/conf/runit/web1");
    auto c = layout.client("web1");
    CHECK(c.dir == "/backups/systems/web1");
    CHECK(c.service == "/backups/systems/web1/conf/runsvdir");
    CHECK(c.services == "/backups/systems/web1/conf/runsvs");
    CHECK(c.config_file == "/backups/systems/web1/conf/client.yaml");
    CHECK(c.environ_file == "/backups/systems/web1/client/environ");
    CHECK(c.state == "/backups/systems/web1/state");
}
