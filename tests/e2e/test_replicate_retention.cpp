// Retention per destination with real restic: a client backs up once a simulated day and prunes
// its primary (`forget --keep-last 3 --prune`); restic-replicate --now mirrors the prunes to a
// local `forever` destination, a local `keep_deleted: 4d` one and an S3 (versitygw, through
// rclone) `keep_deleted: 2d` one. Every replica passes `restic check` after every day and holds
// exactly the snapshots it must. A wipe of the primary is held until --confirm-deletions, and a
// file put into a destination by hand is never deleted.
#include "model/config.hpp"
#include "model/layout.hpp"
#include "support/fixtures.hpp"
#include "util/json.hpp"
#include "util/random.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>

using namespace backup;
using namespace backup::test;

namespace {

constexpr std::int64_t k_day = 86400;
constexpr std::int64_t k_t0 = 1'800'000'000;

// The snapshot ids a repository directory holds (file names: no password needed).
std::set<std::string> snapshot_files(const fs::path& repository) {
    std::set<std::string> ids;
    if (fs::exists(repository / "snapshots")) {
        for (const auto& entry : fs::directory_iterator(repository / "snapshots")) {
            ids.insert(entry.path().filename().string());
        }
    }
    return ids;
}

// A client "web1" whose primary is a local repository, with destinations in its client.yaml.
struct RetentionClient {
    util::TempDir dir;
    fs::path root;
    fs::path repository;
    fs::path source;
    ResticClient restic;
    Environment env = base_environment();

    explicit RetentionClient(std::string_view name)
        : dir(util::value_or_throw(util::TempDir::create_in_tmp(name))),
          root(dir.path() / "backups"), repository(dir.path() / "primary"),
          source(dir.path() / "source"),
          restic(make_restic_client(dir.path() / "client", repository.string())) {
        restic.run({"init"});
        fs::create_directories(source);
    }
    void configure(const std::vector<core::Destination>& destinations) const {
        core::ClientConfig config;
        config.host = "web1";
        config.address = "127.0.0.1";
        config.port = 8101;
        config.bucket = "web1";
        config.repository = repository;
        config.destinations = destinations;
        auto paths = core::ServerLayout(root).client("web1");
        fs::create_directories(paths.conf);
        REQUIRE(util::atomic_write(paths.config_file.string(), core::render_client_config(config),
                                   0644));
    }
    core::Destination local(const std::string& name, std::optional<std::int64_t> keep_days) const {
        core::Destination d(name, dir.path() / name);
        fs::create_directories(d.path);
        if (keep_days) {
            d.keep_deleted = std::chrono::seconds(*keep_days * k_day);
        }
        return d;
    }
    // One day's backup: new random content, so that each prune frees packs.
    std::string backup(int day) const {
        auto bytes = util::random_bytes(64 * 1024);
        REQUIRE(bytes);
        REQUIRE(util::atomic_write((source / fmt::format("day-{}", day)).string(), *bytes, 0644));
        if (day >= 2) {
            fs::remove(source / fmt::format("day-{}", day - 2));
        }
        auto before = snapshot_files(repository);
        restic.run({"backup", "-q", source.string()});
        auto after = snapshot_files(repository);
        std::vector<std::string> added;
        std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                            std::back_inserter(added));
        REQUIRE(added.size() == 1);
        return added[0];
    }
    ProcessResult replicate(std::int64_t now, std::vector<std::string> extra = {}) const {
        std::vector<std::string> argv = {tools_dir() + "/restic-replicate",
                                         "--root",
                                         root.string(),
                                         "--client",
                                         "web1",
                                         "--now",
                                         std::to_string(now)};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_cmd(std::move(argv), env);
    }
    // backup-status --json's row of web1 at now: problems kinds and destination "one".
    // Enabled (its link in the scan directory), so that its replication is judged.
    std::pair<std::set<std::string>, util::Json> client_status(std::int64_t now) const {
        core::ServerLayout layout(root);
        fs::path link = layout.enable_link("web1");
        if (!fs::is_symlink(link)) {
            fs::create_directories(link.parent_path());
            fs::create_directory_symlink(layout.client("web1").service, link);
        }
        auto run = run_cmd({tools_dir() + "/backup-status", "--root", root.string(), "--json",
                            "--now", std::to_string(now)},
                           env);
        INFO(run.out << run.err);
        auto json = util::Json::parse(run.out);
        std::set<std::string> kinds;
        for (const auto& p : json["clients"][0]["problems"]) {
            kinds.insert(p["kind"].get<std::string>());
        }
        return {kinds, json["clients"][0]["destinations"][1]};
    }
    util::Json status() const {
        auto paths = core::ServerLayout(root).client("web1");
        auto json = util::read_json_file((paths.state / "replicate-status.json").string());
        REQUIRE(json);
        return *json;
    }
    // The client's view of a replica, with a cache of its own.
    ResticClient at(const std::string& repository_url, const std::string& cache) const {
        ResticClient other = restic;
        other.env["RESTIC_REPOSITORY"] = repository_url;
        other.env["RESTIC_CACHE_DIR"] = (dir.path() / cache).string();
        return other;
    }
};

} // namespace

TEST_CASE("retention: 20 days of backups and prunes: replicas keep the primary's last "
          "keep_deleted, forever keeps all, restic check passes every day",
          "[replicate][retention][versitygw][rclone]") {
    require_program("rclone");
    auto started = std::chrono::steady_clock::now();
    RetentionClient c("e2e-retention-days");
    fs::path top = c.dir.path();
    {
        VersitygwServer offsite(top / "offsite");
        core::Destination s3("offsite", "", "offsite:replica/web1");
        s3.keep_deleted = std::chrono::seconds(2 * k_day);
        c.configure({c.local("forever", std::nullopt), c.local("four", 4), s3});
        c.env["RCLONE_CONFIG_OFFSITE_TYPE"] = "s3";
        c.env["RCLONE_CONFIG_OFFSITE_PROVIDER"] = "Other";
        c.env["RCLONE_CONFIG_OFFSITE_ENDPOINT"] = offsite.endpoint();
        c.env["RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID"] = offsite.access_key();
        c.env["RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY"] = offsite.secret_key();
        fs::path s3_dir = offsite.data_dir() / "replica" / "web1";
        auto forever = c.at((top / "forever").string(), "cache-forever");
        auto four = c.at((top / "four").string(), "cache-four");
        auto remote = c.at("s3:" + offsite.endpoint() + "/replica/web1", "cache-s3");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();

        constexpr int k_days = 20;
        std::set<std::string> all;
        std::vector<std::set<std::string>> held_on; // the primary's snapshots after each day
        for (int day = 0; day < k_days; ++day) {
            all.insert(c.backup(day));
            c.restic.run({"forget", "-q", "--keep-last", "3", "--prune"});
            held_on.push_back(snapshot_files(c.repository));
            REQUIRE(held_on.back().size() == static_cast<std::size_t>(std::min(day + 1, 3)));
            auto result = c.replicate(k_t0 + day * k_day);
            INFO(fmt::format("day {}\nstdout:\n{}\nstderr:\n{}", day, result.out, result.err));
            REQUIRE(result.exit_code() == 0);
            // What the primary held on any day of the last D.
            auto within = [&](int days) {
                std::set<std::string> out;
                for (int k = std::max(0, day - days); k <= day; ++k) {
                    out.insert(held_on[k].begin(), held_on[k].end());
                }
                return out;
            };
            CHECK(snapshot_files(top / "forever") == all);
            CHECK(snapshot_files(top / "four") == within(4));
            CHECK(snapshot_files(s3_dir) == within(2));
            for (const auto* replica : {&forever, &four, &remote}) {
                replica->run({"check", "-q"});
            }
        }
        // From day 6 on the 4d replica holds 3 + 4 snapshots, the 2d one 3 + 2.
        CHECK(snapshot_files(top / "four").size() == 7);
        CHECK(snapshot_files(s3_dir).size() == 5);
        auto status = c.status();
        for (const auto& d : status["destinations"]) {
            INFO(d.dump());
            CHECK(d["state"] == "ok");
            CHECK(d["retention"].is_object());
        }
        CHECK(status["destinations"][0]["retention"]["keep_deleted"] == "forever");
        CHECK(status["destinations"][0]["retention"]["pending_files"] == 0);
        CHECK(status["destinations"][1]["retention"]["keep_deleted"] == "4d");
        CHECK(status["destinations"][1]["retention"]["pending_files"].get<int>() > 0);
        CHECK(status["destinations"][1]["retention"]["next_due"].is_string());
        CHECK(status["destinations"][2]["retention"]["last_deletion"].is_string());
        // The oldest snapshot each still holds restores, its data read back in full.
        for (const auto* replica : {&four, &remote}) {
            replica->run({"check", "-q", "--read-data"});
        }
        // One of the oldest snapshots the 4d replica must still hold.
        auto oldest = *held_on[k_days - 1 - 4].begin();
        four.run({"restore", "-q", oldest, "--target", (top / "restored").string()});
        CHECK(fs::exists(top / "restored" / c.source.relative_path()));
    }
    require_no_processes(top);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    WARN(fmt::format("20 simulated days with 3 destinations: {:.1f} s", seconds));
}

TEST_CASE("retention: a wipe of the primary is held until --confirm-deletions, and a file put "
          "there by hand stays",
          "[replicate][retention]") {
    RetentionClient c("e2e-retention-wipe");
    fs::path top = c.dir.path();
    c.configure({c.local("forever", std::nullopt), c.local("one", 1)});
    for (int day = 0; day < 3; ++day) {
        c.backup(day);
        REQUIRE(c.replicate(k_t0 + day * k_day).exit_code() == 0);
    }
    // By hand: a file the ledger never recorded (a pack's name and place, any content).
    fs::path by_hand = top / "one" / "data" / "aa" / std::string(64, 'a');
    fs::create_directories(by_hand.parent_path());
    REQUIRE(util::atomic_write(by_hand.string(), "put here by hand", 0400));
    auto three = snapshot_files(c.repository);
    REQUIRE(three.size() == 3);

    // Every snapshot forgotten, the repository pruned: all gone from the primary.
    std::vector<std::string> forget = {"forget", "-q"};
    forget.insert(forget.end(), three.begin(), three.end());
    c.restic.run(forget);
    c.restic.run({"prune", "-q"});
    REQUIRE(snapshot_files(c.repository).empty());
    REQUIRE(c.replicate(k_t0 + 3 * k_day).exit_code() == 0); // seen gone, not due yet
    auto held = c.replicate(k_t0 + 5 * k_day);
    INFO(held.out + held.err);
    CHECK(held.exit_code() == 1);
    CHECK(held.err.find("unable to delete from one: it would delete 3 of its 3 snapshots") !=
          std::string::npos);
    CHECK(held.err.find("--confirm-deletions one") != std::string::npos);
    CHECK(c.status()["destinations"][1]["state"] == "deletion held");
    CHECK(snapshot_files(top / "one") == three);
    // backup-status says so, with what to run.
    auto [kinds, one] = c.client_status(k_t0 + 5 * k_day);
    CHECK(kinds.contains("held-deletion"));
    CHECK(one["keep_deleted"] == "1d");
    CHECK(one["deletions_held"].get<std::string>().find("3 of its 3 snapshots") !=
          std::string::npos);
    CHECK(one["pending_deletions"].get<int>() > 3);

    // Frozen, a confirmation does nothing; released and confirmed, the deletions run.
    CHECK(c.replicate(k_t0 + 5 * k_day, {"--hold-deletions", "one"}).exit_code() == 0);
    CHECK(c.replicate(k_t0 + 5 * k_day, {"--confirm-deletions", "one"}).exit_code() == 1);
    CHECK(snapshot_files(top / "one") == three);
    CHECK(c.replicate(k_t0 + 5 * k_day, {"--release-deletions", "one"}).exit_code() == 0);
    auto confirmed = c.replicate(k_t0 + 5 * k_day, {"--confirm-deletions", "one"});
    INFO(confirmed.out + confirmed.err);
    CHECK(confirmed.exit_code() == 0);
    CHECK(snapshot_files(top / "one").empty());
    CHECK(fs::exists(by_hand));
    CHECK(snapshot_files(top / "forever").size() == 3);
    CHECK(fs::exists(top / "one" / "config"));
    CHECK_FALSE(fs::is_empty(top / "one" / "keys"));
    auto status = c.status();
    CHECK(status["destinations"][1]["state"] == "ok");
    CHECK(status["destinations"][1]["retention"]["files_deleted"].get<int>() > 3);
    auto [kinds_after, one_after] = c.client_status(k_t0 + 5 * k_day);
    CHECK_FALSE(kinds_after.contains("held-deletion"));
    CHECK(one_after["deletions_held"].is_null());
    CHECK(one_after["pending_deletions"] == 0);
    CHECK(one_after["last_deletion"].is_number());
    require_no_processes(top);
}
