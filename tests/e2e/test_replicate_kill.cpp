// restic-replicate killed (SIGKILL) at random points while it copies a repository to a local
// directory: after every kill the destination is still a valid repository (or not yet one at
// all), no file under a repository name is partial, and the next run completes it.
#include "model/repository.hpp"
#include "replicate/store.hpp"
#include "support/fixtures.hpp"
#include "support/replicate_runs.hpp"
#include "support/repository_files.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <random>
#include <set>
#include <sys/wait.h>
#include <thread>

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

// Repository files (locks aside) and this tool's temporary files under dir.
struct ReplicaContent {
    std::set<std::string> files;
    std::set<std::string> temporaries;
    std::set<std::string> others;
};

ReplicaContent replica_content(const fs::path& dir) {
    ReplicaContent content;
    auto listed = test::list_repository_files(dir.string());
    REQUIRE(listed);
    for (const auto& f : *listed) {
        if (core::is_replica_temporary_name(fs::path(f.relative).filename().string())) {
            content.temporaries.insert(f.relative);
        } else if (f.kind == core::RepoFileKind::other ||
                   f.kind == core::RepoFileKind::misplaced_pack) {
            content.others.insert(f.relative);
        } else if (f.kind != core::RepoFileKind::lock) {
            content.files.insert(f.relative);
        }
    }
    return content;
}

// Every content-addressed file under a repository name hashes to its name.
void require_no_partial_file(const fs::path& dir) {
    auto content = replica_content(dir);
    for (const auto& relative : content.files) {
        if (relative == "config") {
            continue;
        }
        auto hash = util::sha256_file((dir / relative).string());
        REQUIRE(hash);
        CHECK(hash->hex == fs::path(relative).filename().string());
    }
}

util::SpawnOptions replicate_options(const fs::path& source, const fs::path& dest,
                                     const fs::path& state) {
    util::SpawnOptions o;
    o.argv = {tools_dir() + "/restic-replicate", "--state-dir", state.string(), source.string(),
              dest.string()};
    o.env = base_environment();
    o.stdout_mode = util::Output::null;
    o.stderr_mode = util::Output::null;
    return o;
}

} // namespace

TEST_CASE("replicate: killed at random points, a local replica stays valid and the next run "
          "completes it",
          "[replicate][kill]") {
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-kill");
    REQUIRE(dir);
    {
        fs::path repository = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        // Enough files that a copy takes a moment: small packs, several backups.
        fs::path source = dir->path() / "source";
        for (int round = 0; round < 4; ++round) {
            add_random_files(source / fmt::format("round{}", round), "big", 6, 2 * 1024 * 1024);
            add_random_files(source / fmt::format("round{}", round), "small", 200, 2000);
            client.run({"backup", "--pack-size", "4", source.string()});
        }
        auto expected = replica_content(repository).files;
        REQUIRE(expected.size() > 20);

        // How long a whole copy takes here (the quicker of two, once the page cache is warm):
        // the kills are spread over it.
        auto full = std::chrono::milliseconds::max();
        for (int i = 0; i < 2; ++i) {
            fs::path calibration = dir->path() / fmt::format("calibration-{}", i);
            fs::create_directories(calibration);
            auto start = std::chrono::steady_clock::now();
            run_ok(replicate_options(repository, calibration, calibration.string() + "-state"));
            full = std::min(full, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - start));
            REQUIRE(replica_content(calibration).files == expected);
        }

        std::random_device device;
        unsigned seed = device();
        std::mt19937 random(seed);
        std::uniform_int_distribution<long> delay_ms(0, std::max<long>(full.count() * 9 / 10, 10));
        INFO("seed " << seed << ", a full copy takes " << full.count() << " ms");
        constexpr int k_trials = 10;
        int interrupted = 0;
        for (int trial = 0; trial < k_trials; ++trial) {
            fs::path dest = dir->path() / fmt::format("dest-{}", trial);
            fs::path state = dir->path() / fmt::format("state-{}", trial);
            fs::create_directories(dest);
            auto delay = std::chrono::milliseconds(delay_ms(random));
            INFO("trial " << trial << ": SIGKILL after " << delay.count() << " ms");
            auto child = util::Child::spawn(replicate_options(repository, dest, state));
            REQUIRE(child);
            std::this_thread::sleep_for(delay);
            child->signal(SIGKILL);
            auto status = child->wait();
            REQUIRE(status);
            bool killed = WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
            interrupted += killed ? 1 : 0;

            // Right after the kill: nothing partial under a real name, and either a valid
            // repository or none yet (no config: restic does not take it for one, and it holds
            // no packs, index or snapshots that could be taken for one).
            require_no_partial_file(dest);
            auto after_kill = replica_content(dest);
            if (after_kill.files.contains("config")) {
                auto replica = client;
                replica.env["RESTIC_REPOSITORY"] = dest.string();
                replica.env["RESTIC_CACHE_DIR"] = (dir->path() / "cache-replica").string();
                replica.run({"check", "--no-cache"});
            } else {
                for (const auto& relative : after_kill.files) {
                    CHECK(relative.starts_with("keys/"));
                }
            }
            CHECK(after_kill.others.empty());

            // The next run completes it and leaves no temporary file.
            auto next = run_ok(replicate_options(repository, dest, state));
            auto completed = replica_content(dest);
            CHECK(completed.files == expected);
            CHECK(completed.temporaries.empty());
            CHECK(completed.others.empty());
            for (const auto& entry : fs::directory_iterator(state / "replicate")) {
                CHECK(entry.path().extension() != ".interrupted");
            }
        }
        // The kills must have hit runs in progress, or the test proves nothing.
        CHECK(interrupted >= k_trials / 2);

        auto replica = client;
        replica.env["RESTIC_REPOSITORY"] = (dir->path() / "dest-0").string();
        replica.env["RESTIC_CACHE_DIR"] = (dir->path() / "cache-last").string();
        replica.run({"check", "--read-data"});
    }
    require_no_processes(dir->path());
}
