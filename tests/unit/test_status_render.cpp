#include "status/render.hpp"

#include <catch2/catch.hpp>

#include "support/status_samples.hpp"
#include <cstdio>

#include "state/capacity_history.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

using namespace backup;
using namespace backup::core;

namespace {

using backup::test::status_client;

} // namespace

TEST_CASE("status table: columns fit their widest cell, names of any length and in UTF-8") {
    ServerStatus s;
    s.now = 1'800'000'000;
    s.clients = {
        status_client("a", ClientState::ok),
        status_client("a-very-long-client-name-of-the-kind-people-use", ClientState::fresh),
        status_client("zürich", ClientState::failing,
                      {{ProblemKind::service_down, "versitygw", "service versitygw is down"}})};
    std::string table = render_status_table(s, false);
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < table.size();) {
        auto end = table.find('\n', at);
        lines.push_back(table.substr(at, end - at));
        at = end + 1;
    }
    REQUIRE(lines.size() == 4);
    // STATE starts in the same column on every line.
    auto column = [](const std::string& line) {
        auto first_gap = line.find("  ");
        return util::utf8_length(line.substr(0, line.find_first_not_of(' ', first_gap)));
    };
    CHECK(column(lines[0]) == column(lines[1]));
    CHECK(column(lines[1]) == column(lines[2]));
    CHECK(column(lines[2]) == column(lines[3]));
    CHECK(lines[2].find(" new ") != std::string::npos);
    CHECK(lines[3].ends_with("service versitygw is down"));
}

TEST_CASE("status JSON: schema 2, states and problems with their kinds") {
    ServerStatus s;
    s.now = 1'800'000'000;
    s.clients = {
        status_client("web1", ClientState::stale,
                      {{ProblemKind::stale, "snapshots", "stale: newest snapshot 2d old"}})};
    InstanceInfo i;
    i.kind = "versitygw";
    i.enabled = true;
    i.port = 8100;
    s.instances = {i};
    auto json = status_to_json(s);
    CHECK(json["schema"] == 2);
    CHECK(json["healthy"] == false);
    CHECK(json["clients"][0]["state"] == "stale");
    CHECK(json["clients"][0]["problems"][0]["kind"] == "stale");
    CHECK(json["clients"][0]["problems"][0]["subject"] == "snapshots");
    CHECK(json["instances"][0]["kind"] == "versitygw");
    CHECK(json["instances"][0]["port"] == 8100);
    auto prom = render_prometheus(s);
    CHECK(prom.find("restic_backup_client_state{client=\"web1\",state=\"stale\"} 1") !=
          std::string::npos);
    CHECK(prom.find("restic_backup_instance_up{instance=\"versitygw\"} 0") != std::string::npos);
}

namespace {

std::string streamed_json(const ServerStatus& s) {
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    write_status_json(s, file);
    std::string text(static_cast<std::size_t>(std::ftell(file)), '\0');
    std::rewind(file);
    REQUIRE(std::fread(text.data(), 1, text.size(), file) == text.size());
    std::fclose(file);
    return text;
}

} // namespace

TEST_CASE("status JSON: written a client at a time, byte for byte the whole document's dump") {
    ServerStatus s;
    s.now = 1'800'000'000;
    s.root = "/backups";
    auto whole = [](const ServerStatus& st) {
        return status_to_json(st).dump(2, ' ', false, util::Json::error_handler_t::replace) + "\n";
    };
    CHECK(streamed_json(s) == whole(s)); // no clients, no instances, no filesystems
    ClientInfo web1 =
        status_client("web1", ClientState::stale,
                      {{ProblemKind::stale, "snapshots", "stale: newest \"snapshot\"\n2d"}});
    web1.services.push_back({"runsvdir", true, "", std::nullopt});
    web1.snapshot_times = {1, 2, 3};
    web1.destinations.push_back({"disk2", "ok", 5});
    ClientInfo bad = status_client("b\xff-bad-utf8", ClientState::error);
    s.clients = {web1, status_client("zürich", ClientState::ok), bad};
    InstanceInfo i;
    i.kind = "versitygw";
    s.instances = {i};
    FilesystemInfo f;
    f.path = "/backups";
    f.clients = {"web1", "zürich"};
    s.filesystems = {f};
    s.problems = {{ProblemKind::state_file, "capacity", "unable to read capacity.json"}};
    CHECK(streamed_json(s) == whole(s));
    s.clients.resize(1);
    CHECK(streamed_json(s) == whole(s));
}

TEST_CASE("capacity history: round trip, and a malformed file is an error naming it") {
    auto dir = util::TempDir::create_in_tmp("unit-capacity");
    REQUIRE(dir);
    CapacityHistory h;
    h.clients["web1"] = {{20'000, 5}, {20'001, 7}};
    h.filesystems["/backups"] = {{20'001, 1ULL << 40}};
    REQUIRE(write_capacity_history(dir->path(), h));
    auto back = read_capacity_history(dir->path());
    REQUIRE(back);
    CHECK(back->clients["web1"].size() == 2);
    CHECK(back->clients["web1"][1].bytes == 7);
    CHECK(back->filesystems["/backups"][0].bytes == 1ULL << 40);

    REQUIRE(util::atomic_write(capacity_history_path(dir->path()).string(),
                               R"({"schema": 1, "clients": {"web1": [[2, 1], [1, 1]]},
                                   "filesystems": {}})",
                               0644));
    auto bad = read_capacity_history(dir->path());
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("capacity.json") != std::string::npos);
    CHECK(bad.error().message().find("out of order") != std::string::npos);
}
