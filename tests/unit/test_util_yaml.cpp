#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include "util/yaml.hpp"

using namespace backup::util;

namespace {

using backup::test::all_messages;

} // namespace

TEST_CASE("a syntax error names the file and line") {
    auto r = load_yaml_string("root: /backups\nports: [1, 2\n", "server.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ExitCode::permanent);
    CHECK(r.error().message().find("server.yaml:") != std::string::npos);
}

TEST_CASE("a missing file is named") {
    auto r = load_yaml_file("/nonexistent/server.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("/nonexistent/server.yaml") != std::string::npos);
}

TEST_CASE("typed accessors read values and report every problem with line and key") {
    auto node = load_yaml_string("root: /backups\n"
                                 "port: 70000\n"
                                 "server:\n"
                                 "  kind: versitygw\n"
                                 "  append_only: maybe\n"
                                 "  colour: blue\n"
                                 "tags: [daily, 3]\n"
                                 "extra: 1\n",
                                 "server.yaml");
    REQUIRE(node);
    ConfigProblems problems("server.yaml");
    YamlMap top(*node, "", problems);
    CHECK(top.string("root") == "/backups");
    CHECK_FALSE(top.integer("port", 1, 65535));
    CHECK_FALSE(top.string("absent"));
    auto server = top.map("server");
    REQUIRE(server);
    CHECK(server->string("kind") == "versitygw");
    CHECK_FALSE(server->boolean("append_only"));
    server->reject_unknown_keys();
    CHECK(top.string_list("tags") == std::vector<std::string>{"daily", "3"});
    top.reject_unknown_keys();

    auto result = problems.result();
    REQUIRE_FALSE(result);
    std::string text = all_messages(result.error());
    CHECK(text.find("server.yaml:2: key 'port': expected an integer from 1 to 65535") !=
          std::string::npos);
    CHECK(text.find("server.yaml:5: key 'server.append_only': expected true or false") !=
          std::string::npos);
    CHECK(text.find("server.yaml:6: key 'server.colour': unknown key") != std::string::npos);
    CHECK(text.find("server.yaml:8: key 'extra': unknown key") != std::string::npos);
    CHECK(result.error().more().size() == 3);
}

TEST_CASE("map_list and wrong shapes") {
    auto node = load_yaml_string("destinations:\n"
                                 "  - name: disk2\n"
                                 "    path: /mnt/disk2\n"
                                 "  - name: b2\n"
                                 "    remote: b2:bucket\n"
                                 "audit: 5\n",
                                 "client.yaml");
    REQUIRE(node);
    ConfigProblems problems("client.yaml");
    YamlMap top(*node, "", problems);
    auto dests = top.map_list("destinations");
    REQUIRE(dests);
    REQUIRE(dests->size() == 2);
    CHECK((*dests)[0].string("name") == "disk2");
    CHECK((*dests)[1].string("remote") == "b2:bucket");
    CHECK_FALSE(top.map("audit"));
    auto result = problems.result();
    REQUIRE_FALSE(result);
    CHECK(result.error().message() ==
          "unable to load configuration client.yaml:6: key 'audit': expected a mapping of keys "
          "to values");
}

TEST_CASE("an empty document is an empty mapping") {
    auto node = load_yaml_string("", "empty.yaml");
    REQUIRE(node);
    ConfigProblems problems("empty.yaml");
    YamlMap top(*node, "", problems);
    CHECK_FALSE(top.string("root"));
    top.reject_unknown_keys();
    CHECK(problems.result());
}
