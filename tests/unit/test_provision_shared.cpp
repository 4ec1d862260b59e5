// The shared topology's pure parts: layout, shared.yaml, htpasswd composition, admin bodies.
#include "model/shared.hpp"
#include "provision/versitygw_admin.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

using namespace backup;
using namespace backup::core;

TEST_CASE("shared: the instance lives outside systems/, its link cannot be a host", "[shared]") {
    ServerLayout layout("/backups");
    auto p = shared_paths(layout, ServerKind::rest_server);
    CHECK(p.dir == "/backups/shared/rest-server");
    CHECK(p.service == "/backups/shared/rest-server/service");
    CHECK(p.secrets == "/backups/shared/rest-server/secrets");
    CHECK(shared_service_name(ServerKind::versitygw) == "_shared-versitygw");
    CHECK_FALSE(validate_host_name(shared_service_name(ServerKind::versitygw)));
    CHECK_FALSE(validate_host_name(shared_service_name(ServerKind::rest_server)));
}

TEST_CASE("shared: shared.yaml round-trips and its ports are found", "[shared]") {
    auto dir = util::TempDir::create_in_tmp("unit-shared");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    auto p = shared_paths(layout, ServerKind::versitygw);
    fs::create_directories(p.dir);
    REQUIRE(util::atomic_write(p.config_file.string(),
                               render_shared_config({ServerKind::versitygw, 8123}), 0644));
    auto loaded = load_shared_config(p.config_file.string());
    REQUIRE(loaded);
    CHECK(loaded->kind == ServerKind::versitygw);
    CHECK(loaded->port == 8123);
    CHECK(shared_instance_ports(layout) == std::vector<int>{8123});

    REQUIRE(util::atomic_write(p.config_file.string(), "schema: 1\nkind: minio\nport: 0\n", 0644));
    auto bad = load_shared_config(p.config_file.string());
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == util::ExitCode::permanent);
    CHECK(bad.error().message().find("kind") != std::string::npos);
}

TEST_CASE("shared: the htpasswd is composed sorted, one user once", "[shared]") {
    auto text = compose_htpasswd({"web2:$2y$x", "web1:$2y$y"});
    REQUIRE(text);
    CHECK(*text == "web1:$2y$y\nweb2:$2y$x\n");
    auto empty = compose_htpasswd({});
    REQUIRE(empty);
    CHECK(empty->empty());
    CHECK_FALSE(compose_htpasswd({"web1:a", "web1:b"}));
    CHECK_FALSE(compose_htpasswd({"nocolon"}));
    CHECK_FALSE(compose_htpasswd({"a:b\nc:d"}));
}

TEST_CASE("shared: versitygw admin bodies are Go's encoding/xml of Account", "[shared]") {
    CHECK(versitygw_account_xml("AK", "s<&", "user") ==
          "<Account><Access>AK</Access><Secret>s&lt;&amp;</Secret><Role>user</Role>"
          "<UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>");
    CHECK(versitygw_secret_xml("x") == "<MutableProps><Secret>x</Secret></MutableProps>");
}
