// SeaweedFS as "somebody else's S3" (issue 18): a small cluster (master, two volume servers, a
// filer with its S3 gateway) on loopback. restic backs up straight to its bucket with the client's
// read-write key; the server side's read-only key lists and reads and cannot write; and with one
// volume server stopped, reads of what it holds fail until it is back.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <regex>
#include <sstream>

#include "support/fixtures.hpp"
#include "support/seaweedfs.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

ResticClient seaweed_client(const fs::path& dir, const SeaweedCluster& cluster,
                            const std::string& path) {
    auto client = make_restic_client(
        dir, fmt::format("s3:{}/{}/{}", cluster.endpoint(), cluster.bucket(), path));
    client.env["AWS_ACCESS_KEY_ID"] = cluster.read_write().access_key;
    client.env["AWS_SECRET_ACCESS_KEY"] = cluster.read_write().secret_key;
    return client;
}

// rclone with the remote "store" on the cluster under keys; credentials by environment only.
ProcessResult rclone(const SeaweedCluster& cluster, const SeaweedCluster::Keys& keys,
                     std::vector<std::string> args, std::optional<std::string> input = {}) {
    Environment env = base_environment();
    cluster.add_rclone_remote(env, "store", keys);
    args.insert(args.begin(), {require_program("rclone"), "--retries", "1", "--low-level-retries",
                               "1", "--contimeout", "5s", "--timeout", "20s"});
    return run_cmd(std::move(args), env, std::move(input));
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            out.push_back(line);
        }
    }
    return out;
}

std::uintmax_t volume_bytes(const fs::path& dir) {
    std::uintmax_t total = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".dat") {
            total += entry.file_size();
        }
    }
    return total;
}

} // namespace

TEST_CASE("restic backs up to a SeaweedFS cluster, a read-only key lists and cannot write",
          "[seaweedfs]") {
    auto dir = util::TempDir::create_in_tmp("e2e-seaweed");
    REQUIRE(dir);
    {
        auto started = Clock::now();
        SeaweedCluster cluster(dir->path());
        std::cout << fmt::format("seaweedfs: cluster ready in {:.1f} s\n", seconds_since(started));

        auto client = seaweed_client(dir->path() / "client", cluster, "web1");
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        client.run({"init"});
        client.run({"backup", source.string()});
        auto snapshots = client.run({"snapshots", "--json"});
        CHECK(snapshots.out.find("\"paths\"") != std::string::npos);

        // The server side's key lists the snapshots...
        auto listed = rclone(cluster, cluster.read_only(),
                             {"lsf", fmt::format("store:{}/web1/snapshots/", cluster.bucket())});
        INFO(listed.describe() << "\n" << listed.err);
        REQUIRE(listed.success());
        auto names = lines_of(listed.out);
        REQUIRE(names.size() == 1);
        CHECK(std::regex_match(names[0], std::regex("[0-9a-f]{64}")));
        // ...reads an object (the repository's config)...
        auto config = rclone(cluster, cluster.read_only(),
                             {"cat", fmt::format("store:{}/web1/config", cluster.bucket())});
        CHECK(config.success());
        CHECK_FALSE(config.out.empty());

        // ...and cannot write: neither a new object nor over an existing one.
        fs::path stray = dir->path() / "stray";
        REQUIRE(util::atomic_write(stray.string(), "not from restic\n", 0600));
        auto copied = rclone(cluster, cluster.read_only(),
                             {"copyto", "--s3-no-check-bucket", stray.string(),
                              fmt::format("store:{}/web1/stray", cluster.bucket())});
        CHECK_FALSE(copied.success());
        std::cout << fmt::format("seaweedfs: read-only copy: {}: {}\n", copied.describe(),
                                 lines_of(copied.err).empty() ? "" : lines_of(copied.err).back());
        auto deleted = rclone(
            cluster, cluster.read_only(),
            {"deletefile", fmt::format("store:{}/web1/snapshots/{}", cluster.bucket(), names[0])});
        CHECK_FALSE(deleted.success());
        auto after = rclone(cluster, cluster.read_write(),
                            {"lsf", "-R", fmt::format("store:{}/web1/", cluster.bucket())});
        REQUIRE(after.success());
        CHECK(after.out.find("stray") == std::string::npos);
        CHECK(after.out.find("snapshots/" + names[0]) != std::string::npos);
        client.run({"check", "--read-data"});

        auto stopping = Clock::now();
        cluster.stop();
        std::cout << fmt::format("seaweedfs: cluster stopped in {:.1f} s\n",
                                 seconds_since(stopping));
    }
    require_no_processes(dir->path());
}

TEST_CASE("with one SeaweedFS volume server stopped, reads of its objects fail until it is back",
          "[seaweedfs]") {
    auto dir = util::TempDir::create_in_tmp("e2e-seaweed-volume");
    REQUIRE(dir);
    {
        SeaweedCluster cluster(dir->path());
        auto client = seaweed_client(dir->path() / "client", cluster, "web1");
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (int i = 0; i < 12; ++i) {
            auto bytes = util::random_bytes(300 * 1024);
            REQUIRE(bytes);
            REQUIRE(util::atomic_write((source / fmt::format("f{}", i)).string(), *bytes, 0644));
        }
        client.run({"init"});
        client.run({"backup", source.string()});

        // Stop the volume server that holds more of the data, so some objects are surely on it.
        fs::path data = dir->path() / "seaweedfs";
        int victim = volume_bytes(data / "volume0") >= volume_bytes(data / "volume1") ? 0 : 1;
        auto stopping = Clock::now();
        cluster.stop_volume(victim);
        std::cout << fmt::format("seaweedfs: volume{} stopped and unlisted in {:.1f} s\n", victim,
                                 seconds_since(stopping));

        std::string repo = fmt::format("store:{}/web1", cluster.bucket());
        auto listed = rclone(cluster, cluster.read_only(), {"lsf", "-R", "--files-only", repo});
        CHECK(listed.success()); // listings come from the filer, not the volume servers
        auto files = lines_of(listed.out);
        int failed = 0;
        std::string first_error;
        for (const auto& file : files) {
            auto read = rclone(cluster, cluster.read_only(), {"cat", repo + "/" + file});
            if (!read.success()) {
                ++failed;
                if (first_error.empty()) {
                    first_error =
                        fmt::format("{}: {}: {}", file, read.describe(),
                                    lines_of(read.err).empty() ? "" : lines_of(read.err).back());
                }
            }
        }
        std::cout << fmt::format("seaweedfs: with volume{} down: {} of {} objects unreadable; "
                                 "first: {}\n",
                                 victim, failed, files.size(), first_error);
        CHECK(failed > 0);
        // restic retries a failing backend request for minutes: what it does in a minute.
        util::SpawnOptions check;
        check.argv = {require_program("restic"), "check", "--read-data"};
        check.env = client.env;
        check.timeout = 60s;
        auto checked = util::run(check);
        REQUIRE(checked);
        std::cout << fmt::format("seaweedfs: restic check --read-data with volume{} down: {}\n",
                                 victim, checked->describe());
        CHECK_FALSE(checked->success());

        cluster.start_volume(victim);
        client.run({"check", "--read-data"});
        cluster.stop();
    }
    require_no_processes(dir->path());
}
