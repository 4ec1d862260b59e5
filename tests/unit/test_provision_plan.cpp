// The pure part of provisioning: what a client gets, worked out without root or a server.
#include "provision/plan.hpp"

#include "model/environ.hpp"
#include "provision/remote.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

using namespace backup;
using namespace backup::core;

namespace {

ServerConfig server_config() {
    ServerConfig server;
    server.root = "/backups";
    server.public_address = "backup.example.com";
    server.destinations = {{"disk2", "/mnt/disk2/{host}", ""}, {"b2", "", "b2:bucket/{host}"}};
    return server;
}

Programs programs() {
    return {"/usr/bin/versitygw", "/usr/bin/backup-syncd", "/usr/bin/rr"};
}

} // namespace

TEST_CASE("plan: a dedicated versitygw client") {
    ServerConfig server = server_config();
    ProvisionRequest request;
    request.host = "web1";
    ClientConfig config = initial_client_config(server, request, default_client_address(server));
    CHECK(config.address == "backup.example.com");
    REQUIRE(config.destinations.size() == 2);
    CHECK(config.destinations[0].path == "/mnt/disk2/web1");
    CHECK(config.destinations[1].remote == "b2:bucket/web1");
    config.port = 8101;
    ClientPlan plan = plan_client(server, config, Owner{"restic", "restic", 998, 998}, programs(),
                                  Credentials{"AKEY", "secret"});
    CHECK_FALSE(plan.shared);
    CHECK(plan.storage_service == "versitygw");
    CHECK(plan.config.bucket == "web1");
    CHECK(plan.config.user == "AKEY"); // its account on its own gateway, not the root keys
    CHECK(plan.config.repository == "/backups/systems/web1/data/web1");
    CHECK(plan.values.at("IAM").value == "/backups/systems/web1/secrets/iam");
    CHECK(plan.values.at("ADMIN_SOCKET").value == "/backups/systems/web1/secrets/admin.sock");
    CHECK(plan.config.repository_url() == "s3:http://backup.example.com:8101/web1");
    CHECK(plan.values.at("LISTEN").value == "0.0.0.0:8101");
    CHECK(plan.values.at("OWNER").value == "restic:restic");
    CHECK(plan.values.at("SYNC_COMMAND").value == "/usr/bin/rr --root /backups --client web1");
    CHECK(plan.credentials.access_key == "AKEY");
}

TEST_CASE("plan: shared clients and short names") {
    ServerConfig server = server_config();
    ProvisionRequest request;
    request.host = "db";
    request.topology = Topology::shared;
    request.address = "10.0.0.1";
    ClientConfig config = initial_client_config(server, request, default_client_address(server));
    CHECK(config.address == "10.0.0.1");
    config.port = 8100;
    ClientPlan s3 = plan_client(server, config, Owner{}, programs(), Credentials{"AKEY", "s"});
    CHECK(s3.shared);
    CHECK(s3.config.bucket == "db-restic"); // S3 bucket names have 3 characters at least
    CHECK(s3.config.user == "AKEY");        // the shared gateway's account is its access key
    CHECK(s3.config.repository == "/backups/shared/versitygw/data/db-restic");

    config.kind = ServerKind::rest_server;
    ClientPlan rest = plan_client(server, config, Owner{}, programs(), Credentials{"", "pw"});
    CHECK(rest.config.user == "db");
    CHECK(rest.credentials.access_key == "db"); // the htpasswd user
    CHECK(rest.config.repository == "/backups/shared/rest-server/data/db");
    CHECK(rest.config.repository_url() == "rest:http://10.0.0.1:8100/db/");
}

TEST_CASE("plan: without a public address the client connects to this host's name") {
    ServerConfig server;
    ProvisionRequest request;
    request.host = "web1";
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    CHECK(default_client_address(server) == name);
    CHECK(initial_client_config(server, request, default_client_address(server)).address == name);
}

TEST_CASE("a remote primary's environ: s3:ENDPOINT/PATH for an s3 remote with an endpoint, else a "
          "placeholder, the client's key always one") {
    RemoteStore store;
    store.name = "store";
    store.path = "backups/web1";
    store.type = "s3";
    store.endpoint = "https://s3.example.net/";
    store.region = "eu-1";
    CHECK(remote_repository_url(store) == "s3:https://s3.example.net/backups/web1");
    ClientConfig config;
    config.host = "web1";
    config.remote_repository = "store:backups/web1";
    auto text = render_remote_environ(config, store);
    auto parsed = parse_environ(text, "environ");
    REQUIRE(parsed);
    std::map<std::string, std::string> values;
    for (const auto& a : *parsed) {
        values[a.name] = a.value;
    }
    CHECK(values["RESTIC_REPOSITORY"] == "s3:https://s3.example.net/backups/web1");
    CHECK(values["AWS_DEFAULT_REGION"] == "eu-1");
    CHECK(values["AWS_ACCESS_KEY_ID"].starts_with("FILL-IN"));
    CHECK(values["AWS_SECRET_ACCESS_KEY"].starts_with("FILL-IN"));
    CHECK(remote_placeholders_text(store, "rclone.conf").find("RESTIC_REPOSITORY") ==
          std::string::npos);
    store.type = "b2";
    CHECK(remote_repository_url(store).empty());
    parsed = parse_environ(render_remote_environ(config, store), "environ");
    REQUIRE(parsed);
    CHECK(parsed->front().value.starts_with("FILL-IN"));
    CHECK(remote_placeholders_text(store, "rclone.conf").find("RESTIC_REPOSITORY") !=
          std::string::npos);
}
