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

TEST_CASE("host names the layout uses under ROOT/systems/ are refused, as permanent errors") {
    for (auto reserved : k_reserved_host_names) {
        INFO(reserved);
        auto r = validate_host_name(reserved);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == backup::util::ExitCode::permanent);
        CHECK(r.error().message().find("layout") != std::string::npos);
    }
    CHECK(validate_host_name("removed1"));
    CHECK(validate_host_name("conf.example.com"));
}

TEST_CASE("a versitygw client's bucket follows the S3 bucket naming rules") {
    CHECK(bucket_for_host("web1").value() == "web1");
    CHECK(bucket_for_host("db").value() == "db-restic"); // 3 characters at least
    CHECK(bucket_for_host("a.b.example.com").value() == "a.b.example.com");
    CHECK(bucket_for_host("10.0.0.1a").value() == "10.0.0.1a");
    CHECK(bucket_for_host("1.2.3").value() == "1.2.3");
    for (const char* bad :
         {"192.168.1.1", "10.0.0.1", "a.-b", "a-.b", "xn--web", "sthree-x", "amzn-s3-demo-x",
          "web-s3alias", "web--ol-s3", "web.mrap", "web--x-s3"}) {
        INFO(bad);
        auto r = bucket_for_host(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == backup::util::ExitCode::permanent);
        CHECK(r.error().message().find("S3 bucket name") != std::string::npos);
    }
    CHECK_FALSE(bucket_for_host("removed")); // the host name rules first
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
