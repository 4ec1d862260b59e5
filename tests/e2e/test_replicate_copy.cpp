// restic-replicate as backup-syncd runs it (--root ROOT --client HOST APPEARED GONE): a client
// backs up three times to versitygw; each time its repository is replicated to a local
// directory and to a second S3 server reached through rclone. Each replica passes
// `restic check --read-data` with the client's password and restores the same tree.
#include "model/config.hpp"
#include "model/layout.hpp"
#include "model/repository.hpp"
#include "support/fixtures.hpp"
#include "support/replicate_runs.hpp"
#include "support/repository_files.hpp"
#include "util/json.hpp"
#include "util/random.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>

using namespace backup;
using namespace backup::test;

namespace {

// backup-syncd's file of the snapshots that appeared since the last call (seen so far).
std::string appeared_file(const fs::path& path, const fs::path& repository,
                          std::set<std::string>& seen) {
    std::string text;
    for (const auto& entry : fs::directory_iterator(repository / "snapshots")) {
        if (seen.insert(entry.path().filename().string()).second) {
            text += entry.path().filename().string();
            text += '\0';
        }
    }
    REQUIRE(util::atomic_write(path.string(), text, 0600));
    return path.string();
}

// The repository files under dir that a replica must hold (no locks), and everything else.
std::pair<std::set<std::string>, std::set<std::string>>
split_repository_files(const fs::path& dir) {
    auto listed = test::list_repository_files(dir.string());
    REQUIRE(listed);
    std::set<std::string> files;
    std::set<std::string> others;
    for (const auto& f : *listed) {
        if (f.kind == core::RepoFileKind::lock) {
            continue;
        }
        (f.kind == core::RepoFileKind::other || f.kind == core::RepoFileKind::misplaced_pack
             ? others
             : files)
            .insert(f.relative);
    }
    return {files, others};
}

// Requests versitygw logged so far (one line each).
std::size_t request_count(const fs::path& work_dir, int port) {
    auto log = util::read_file((work_dir / fmt::format("versitygw-{}.log", port)).string());
    REQUIRE(log);
    std::size_t count = 0;
    for (std::size_t at = log->find("| vgw |"); at != std::string::npos;
         at = log->find("| vgw |", at + 1)) {
        ++count;
    }
    return count;
}

} // namespace

TEST_CASE("replicate: a client's backups reach a local and an S3 destination, checked and "
          "restored there",
          "[replicate][versitygw][rclone]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-copy");
    REQUIRE(dir);
    {
        VersitygwServer primary(dir->path() / "primary");
        VersitygwServer offsite(dir->path() / "offsite");
        auto client =
            make_restic_client(dir->path() / "client", "s3:" + primary.endpoint() + "/web1");
        client.env["AWS_ACCESS_KEY_ID"] = primary.access_key();
        client.env["AWS_SECRET_ACCESS_KEY"] = primary.secret_key();
        client.run({"init"});
        fs::path repository = primary.data_dir() / "web1";

        // The client's configuration on the server, as new-restic-server writes it.
        fs::path root = dir->path() / "backups";
        auto paths = core::ServerLayout(root).client("web1");
        core::ClientConfig config;
        config.host = "web1";
        config.address = "127.0.0.1";
        config.port = primary.port();
        config.bucket = "web1";
        config.repository = repository;
        fs::path disk = dir->path() / "usb-disk" / "web1";
        fs::create_directories(disk);
        config.destinations.push_back({"disk", disk, ""});
        config.destinations.push_back({"offsite", "", "offsite:replica/web1"});
        fs::create_directories(paths.conf);
        REQUIRE(util::atomic_write(paths.config_file.string(), core::render_client_config(config),
                                   0644));

        // backup-syncd's environment; the remote is configured by environment variables only.
        Environment env = base_environment();
        env["BACKUP_CLIENT"] = "web1";
        env["BACKUP_REPOSITORY"] = repository.string();
        offsite.add_rclone_remote(env, "offsite");
        fs::path gone = dir->path() / "gone";
        REQUIRE(util::atomic_write(gone.string(), "", 0600));

        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        std::size_t previous_total = 0;
        std::set<std::string> seen;
        for (int round = 1; round <= 3; ++round) {
            add_random_files(source / "round", fmt::format("r{}", round), 20, 40 * 1024);
            client.run({"backup", source.string()});
            auto appeared = appeared_file(dir->path() / "appeared", repository, seen);
            auto result = run_replicate(
                {"--root", root.string(), "--client", "web1", appeared, gone.string()}, env);
            INFO(fmt::format("round {}\nstdout:\n{}\nstderr:\n{}", round, result.out, result.err));
            REQUIRE(result.exit_code() == 0);
            CHECK(result.out.find("sync request: 1 snapshot appeared") != std::string::npos);
            CHECK(result.out.find("restic-replicate: disk: ok") != std::string::npos);
            CHECK(result.out.find("restic-replicate: offsite: ok") != std::string::npos);
            CHECK(result.err.empty());

            auto status = util::read_json_file((paths.state / "replicate-status.json").string());
            REQUIRE(status);
            CHECK((*status)["schema"] == 1);
            CHECK((*status)["client"] == "web1");
            CHECK((*status)["exit_code"] == 0);
            for (const auto& d : (*status)["destinations"]) {
                CHECK(d["state"] == "ok");
                CHECK(d["missing_snapshots"] == 0);
                CHECK(d["last_success"].is_string());
                // From the second round on, the ledger spares the listing and only the new
                // files travel.
                if (round > 1) {
                    CHECK(d["listed"].is_null());
                    CHECK(d["files_copied"].get<std::size_t>() ==
                          (*status)["source_files"].get<std::size_t>() - previous_total);
                }
            }
            previous_total = (*status)["source_files"].get<std::size_t>();
        }

        // Up to date: another run sends nothing and asks the S3 server only for its config.
        std::size_t before = request_count(dir->path() / "offsite", offsite.port());
        auto idle = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO(idle.out + idle.err);
        CHECK(idle.exit_code() == 0);
        std::size_t idle_requests = request_count(dir->path() / "offsite", offsite.port()) - before;
        CHECK(idle_requests <= 5);

        // The replicas hold exactly the source's repository files: no locks, no temp files.
        auto [expected, source_others] = split_repository_files(repository);
        for (const auto& replica_dir : {disk, offsite.data_dir() / "replica" / "web1"}) {
            auto [files, others] = split_repository_files(replica_dir);
            INFO(replica_dir.string() << ": " << fmt::format("{}", fmt::join(others, ", ")));
            CHECK(files == expected);
            CHECK(others.empty());
            CHECK(verify_repository_files(replica_dir).empty());
        }

        // Each replica is the client's repository: checked with its password, same snapshots,
        // same restored tree.
        auto local = client_at(client, disk.string(), dir->path() / "cache-disk");
        auto remote = client_at(client, "s3:" + offsite.endpoint() + "/replica/web1",
                                dir->path() / "cache-offsite");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        int index = 0;
        for (const auto* replica : {&local, &remote}) {
            replica->run({"check", "--read-data"});
            CHECK(snapshot_count(*replica) == 3);
            fs::path restored = dir->path() / fmt::format("restored-{}", index++);
            replica->run({"restore", "latest", "--target", restored.string()});
            auto diffs = compare_trees(source, restored / source.relative_path());
            INFO(fmt::format("{}", fmt::join(diffs, "\n")));
            CHECK(diffs.empty());
        }
    }
    require_no_processes(dir->path());
}
