#include "wrapper/server_check.hpp"

#include <catch2/catch.hpp>

using namespace backup;
using namespace backup::core;

TEST_CASE("server check: RESTIC_CACERT names CA files, comma-separated as restic reads it") {
    util::Environment env;
    CHECK(ca_files_of(env).empty());
    env["RESTIC_CACERT"] = "/etc/restic/backup-ca.pem";
    CHECK(ca_files_of(env) == std::vector<std::string>{"/etc/restic/backup-ca.pem"});
    env["RESTIC_CACERT"] = "/a/one.pem,,/b/two.pem,";
    CHECK(ca_files_of(env) == std::vector<std::string>{"/a/one.pem", "/b/two.pem"});
}

TEST_CASE("server check: a CA file that cannot be read is a permanent error naming it") {
    util::Environment env{{"RESTIC_CACERT", "/nonexistent/backup-ca.pem"}};
    auto checked = check_ca_files(env);
    REQUIRE_FALSE(checked);
    CHECK(checked.error().code() == util::ExitCode::permanent);
    CHECK(checked.error().message().find("/nonexistent/backup-ca.pem") != std::string::npos);
    CHECK(checked.error().message().find("client/backup-ca.pem") != std::string::npos);
}

TEST_CASE("server check: the server of an https repository, and nothing for the rest") {
    auto s = https_server_of("rest:https://backup.example.com:8000/web1");
    REQUIRE(s);
    CHECK(s->host == "backup.example.com");
    CHECK(s->port == 8000);
    s = https_server_of("s3:https://10.0.0.5:9000/web1");
    REQUIRE(s);
    CHECK(s->host == "10.0.0.5");
    CHECK(s->port == 9000);
    s = https_server_of("rest:https://user:pass@[::1]:8443/");
    REQUIRE(s);
    CHECK(s->host == "::1");
    CHECK(s->port == 8443);
    s = https_server_of("s3:https://s3.example.com/bucket");
    REQUIRE(s);
    CHECK(s->port == 443);
    CHECK_FALSE(https_server_of("rest:http://127.0.0.1:8000/web1"));
    CHECK_FALSE(https_server_of("/srv/restic-repo"));
    CHECK_FALSE(https_server_of("sftp:host:/repo"));
    CHECK_FALSE(https_server_of("rest:https://host:port/"));
    CHECK_FALSE(https_server_of("rest:https://[::1/"));
    CHECK_FALSE(https_server_of("rest:https:///"));
}
