// The system users of dedicated clients: their names, and when a client gets one of its own.
#include <catch2/catch.hpp>

#include "model/layout.hpp"
#include "provision/plan.hpp"
#include "util/fs.hpp"

using namespace backup;
using namespace backup::core;

TEST_CASE("users: a client's user is the prefix and its host name when that fits") {
    CHECK(client_user_name("restic-", "web1") == "restic-web1");
    CHECK(client_user_name("restic-", "db-2") == "restic-db-2");
    // 7 + 25 = 32 characters: still the plain name.
    std::string longest(25, 'a');
    CHECK(client_user_name("restic-", longest) == "restic-" + longest);
}

TEST_CASE("users: long and dotted host names get a shortened name with a hash, never over 32") {
    std::string h63 = std::string(62, 'a') + "1";
    std::string h63b = std::string(62, 'a') + "2";
    std::string name = client_user_name("restic-", h63);
    CHECK(name.size() == k_max_user_name_length);
    CHECK(name.starts_with("restic-aaaa"));
    // Two hosts that share their first 50 characters get two names.
    CHECK(client_user_name("restic-", h63b) != name);
    CHECK(client_user_name("restic-", h63b).size() <= k_max_user_name_length);
    // One more than fits.
    CHECK(client_user_name("restic-", std::string(26, 'b')).size() == k_max_user_name_length);
    // A '.' becomes '-', and the hash keeps "a.b" apart from "a-b".
    std::string dotted = client_user_name("restic-", "web1.example.com");
    CHECK(dotted.starts_with("restic-web1-example-com-"));
    CHECK(dotted.size() == std::string("restic-web1-example-com-").size() + 8);
    CHECK(client_user_name("restic-", "a.b") != client_user_name("restic-", "a-b"));
    CHECK(client_user_name("restic-", "a-b") == "restic-a-b");
    // The longest prefix leaves room for the hash and a part of the host; no '-' is doubled.
    std::string prefix(16, 'p');
    std::string cut = client_user_name(prefix, "abcdef-ghijklmnopqrstuvwxyz");
    CHECK(cut.size() <= k_max_user_name_length);
    CHECK(cut.find("--") == std::string::npos);
    for (const auto& host : {h63, std::string("x.y.z"), std::string("a-b-c.d-e-f.example.org")}) {
        for (const auto& p : {std::string("restic-"), std::string("r"), prefix}) {
            INFO(p << host);
            auto n = client_user_name(p, host);
            CHECK(n.size() <= k_max_user_name_length);
            CHECK(n.find('.') == std::string::npos);
            CHECK(n.starts_with(p));
        }
    }
}

TEST_CASE("users: the prefix must make valid user names") {
    CHECK(validate_client_user_prefix("restic-"));
    CHECK(validate_client_user_prefix("rb_"));
    for (const auto* bad : {"", "-x", "1x", "Restic-", "re.stic", "abcdefghijklmnopq", "a:b"}) {
        INFO(bad);
        auto ok = validate_client_user_prefix(bad);
        REQUIRE_FALSE(ok);
        CHECK(ok.error().code() == util::ExitCode::permanent);
    }
}

TEST_CASE("users: dedicated clients get their own, shared ones and named ones do not") {
    ServerConfig server;
    server.public_address = "backup.example.com";
    ProvisionRequest request;
    request.host = "web1";
    CHECK(initial_client_config(server, request, "a").owner_user.empty()); // made at provisioning
    request.topology = Topology::shared;
    ClientConfig shared = initial_client_config(server, request, "a");
    CHECK(shared.owner_user == "restic");
    CHECK(shared.owner_group == "restic");
    request.topology = Topology::dedicated;
    request.owner_user = "backup";
    CHECK(initial_client_config(server, request, "a").owner_user == "backup");
    request.owner_user.reset();
    server.client_users = false;
    CHECK(initial_client_config(server, request, "a").owner_user == "restic");
}

TEST_CASE("users: client_users in the server config, owner.created in client.yaml") {
    auto dir = util::TempDir::create_in_tmp("unit-users");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    REQUIRE(util::atomic_write(path, "client_users: {prefix: rb-}\n", 0644));
    auto on = load_server_config(path, true);
    REQUIRE(on);
    CHECK(on->client_users);
    CHECK(on->client_user_prefix == "rb-");
    REQUIRE(util::atomic_write(path, "client_users: off\n", 0644));
    auto off = load_server_config(path, true);
    REQUIRE(off);
    CHECK_FALSE(off->client_users);
    auto defaults = load_server_config(dir->str() + "/none.yaml", false);
    REQUIRE(defaults);
    CHECK(defaults->client_users);
    CHECK(defaults->client_user_prefix == "restic-");
    for (const auto* bad : {"client_users: on\n", "client_users: {prefix: 9x}\n",
                            "client_users: {prefix: a, size: 3}\n"}) {
        INFO(bad);
        REQUIRE(util::atomic_write(path, bad, 0644));
        auto r = load_server_config(path, true);
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("server.yaml:1:") != std::string::npos);
    }

    ClientConfig c;
    c.host = "web1";
    c.port = 8100;
    c.repository = "/backups/systems/web1/data/web1";
    c.owner_user = "restic-web1";
    c.owner_group = "restic-web1";
    c.owner_created = true;
    std::string client = dir->str() + "/client.yaml";
    REQUIRE(util::atomic_write(client, render_client_config(c), 0644));
    auto back = load_client_config(client);
    REQUIRE(back);
    CHECK(back->owner_created);
    // A file from before the key: the user was named by the operator, never deleted.
    c.owner_created = false;
    REQUIRE(util::atomic_write(client, render_client_config(c), 0644));
    auto old = load_client_config(client);
    REQUIRE(old);
    CHECK_FALSE(old->owner_created);
    CHECK(util::read_file(client).value().find("created: true") == std::string::npos);
}
