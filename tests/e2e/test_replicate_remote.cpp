// restic-replicate from a remote primary (issue 18): the client backs up straight to an S3
// service the toolkit does not run; the server side reads it with a key that can only read, and
// brings a local and an S3 replica up to date, each file verified as it streams. On versitygw:
// a full run, then an incremental one that copies only the new files. On SeaweedFS: a volume
// server stopped during a run makes it fail with 111, publishing nothing partial, and the next
// run after it is back completes.
#include "model/config.hpp"
#include "model/layout.hpp"
#include "state/replicate_ledger.hpp"
#include "support/fixtures.hpp"
#include "support/replicate_runs.hpp"
#include "support/repository_files.hpp"
#include "support/seaweedfs.hpp"
#include "util/json.hpp"
#include "util/random.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>
#include <sstream>

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A remote client's configuration on the server, as new-restic-server writes it, with the
// rclone config of its primary in secrets/rclone.conf (0600).
core::ClientPaths provision_remote_client(const fs::path& root, const std::string& remote,
                                          const std::string& rclone_conf,
                                          std::vector<core::Destination> destinations) {
    auto paths = core::ServerLayout(root).client("web1");
    core::ClientConfig config;
    config.host = "web1";
    config.remote_repository = remote;
    config.destinations = std::move(destinations);
    fs::create_directories(paths.conf);
    fs::create_directories(paths.secrets);
    fs::permissions(paths.secrets, fs::perms::owner_all);
    REQUIRE(
        util::atomic_write(paths.config_file.string(), core::render_client_config(config), 0644));
    REQUIRE(util::atomic_write((paths.secrets / "rclone.conf").string(), rclone_conf, 0600));
    return paths;
}

std::string s3_remote_section(const std::string& name, const std::string& provider,
                              const std::string& endpoint, const std::string& access,
                              const std::string& secret) {
    return fmt::format("[{}]\ntype = s3\nprovider = {}\nendpoint = {}\naccess_key_id = {}\n"
                       "secret_access_key = {}\n",
                       name, provider, endpoint, access, secret);
}

// The replicate status of the last run.
util::Json last_status(const core::ClientPaths& paths) {
    auto status = util::read_json_file((paths.state / "replicate-status.json").string());
    REQUIRE(status);
    return *status;
}

// Files under dir whose name is a temporary one (of this tool, or anything "-tmp-").
std::vector<std::string> temporary_files(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.path().filename().string().find("-tmp-") != std::string::npos) {
            out.push_back(entry.path().string());
        }
    }
    return out;
}

} // namespace

TEST_CASE("replicate: a remote primary on versitygw, read with a read-only gateway, reaches a "
          "local and an S3 destination, an incremental run copies only the new files",
          "[replicate][versitygw][rclone][remote]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-remote");
    REQUIRE(dir);
    {
        VersitygwServer primary(dir->path() / "primary");
        VersitygwServer offsite(dir->path() / "offsite");
        // The server side's access: a gateway over the same store that only reads (versitygw
        // --readonly); its key can list and get, and no write of any kind goes through it.
        int ro_port = free_port();
        util::SpawnOptions ro;
        ro.env = base_environment();
        ro.env["ROOT_ACCESS_KEY_ID"] = primary.access_key();
        ro.env["ROOT_SECRET_ACCESS_KEY"] = primary.secret_key();
        ro.argv = {require_program("versitygw"),         "--readonly", "--port",
                   fmt::format("127.0.0.1:{}", ro_port), "posix",      primary.data_dir().string()};
        ServerProcess read_only(ro, dir->path() / "versitygw-readonly.log");
        wait_for_port(ro_port, 20s, "versitygw --readonly");

        auto client =
            make_restic_client(dir->path() / "client", "s3:" + primary.endpoint() + "/web1");
        client.env["AWS_ACCESS_KEY_ID"] = primary.access_key();
        client.env["AWS_SECRET_ACCESS_KEY"] = primary.secret_key();
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        add_random_files(source / "round", "r1", 20, 40 * 1024);
        client.run({"backup", source.string()});

        fs::path root = dir->path() / "backups";
        fs::path disk = dir->path() / "usb-disk" / "web1";
        fs::create_directories(disk);
        auto paths = provision_remote_client(
            root, "primary:web1",
            s3_remote_section("primary", "Other", fmt::format("http://127.0.0.1:{}", ro_port),
                              primary.access_key(), primary.secret_key()),
            {{"disk", disk, ""}, {"offsite", "", "offsite:replica/web1"}});
        // The destinations' credentials: the service's environment, as for a local primary.
        Environment env = base_environment();
        offsite.add_rclone_remote(env, "offsite");

        auto first = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO("first run\nstdout:\n" << first.out << "\nstderr:\n" << first.err);
        REQUIRE(first.exit_code() == 0);
        CHECK(first.out.find("replicating primary:web1") != std::string::npos);
        CHECK(first.err.empty());
        auto status = last_status(paths);
        std::size_t first_total = status["source_files"].get<std::size_t>();
        for (const auto& d : status["destinations"]) {
            CHECK(d["state"] == "ok");
            CHECK(d["files_copied"].get<std::size_t>() == first_total);
        }

        // A second backup, then an incremental run: only the new files travel, no listing.
        add_random_files(source / "round", "r2", 20, 40 * 1024);
        client.run({"backup", source.string()});
        auto started = Clock::now();
        auto second = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        INFO("second run\nstdout:\n" << second.out << "\nstderr:\n" << second.err);
        REQUIRE(second.exit_code() == 0);
        status = last_status(paths);
        std::size_t second_total = status["source_files"].get<std::size_t>();
        REQUIRE(second_total > first_total);
        for (const auto& d : status["destinations"]) {
            CHECK(d["state"] == "ok");
            CHECK(d["listed"].is_null());
            CHECK(d["files_copied"].get<std::size_t>() == second_total - first_total);
        }
        std::cout << fmt::format("replicate-remote: incremental run from a remote primary "
                                 "(versitygw, {} new of {} files, 2 destinations): {:.2f} s\n",
                                 second_total - first_total, second_total, seconds);

        // Nothing was written to the primary by the server side; the replicas are the client's
        // repository, whole and readable.
        CHECK(temporary_files(disk).empty());
        CHECK(verify_repository_files(disk).empty());
        CHECK(verify_repository_files(offsite.data_dir() / "replica" / "web1").empty());
        auto local = client_at(client, disk.string(), dir->path() / "cache-disk");
        auto remote = client_at(client, "s3:" + offsite.endpoint() + "/replica/web1",
                                dir->path() / "cache-offsite");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        for (const auto* replica : {&local, &remote}) {
            replica->run({"check", "--read-data"});
            auto listed = util::Json::parse(replica->run({"snapshots", "--json"}).out);
            CHECK(listed.size() == 2);
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate: from a SeaweedFS primary with one volume server stopped, the run fails "
          "with 111 and publishes nothing partial, once it is back the next run completes",
          "[replicate][seaweedfs][remote]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-seaweed");
    REQUIRE(dir);
    {
        SeaweedCluster cluster(dir->path());
        VersitygwServer offsite(dir->path() / "offsite");
        auto client =
            make_restic_client(dir->path() / "client",
                               fmt::format("s3:{}/{}/web1", cluster.endpoint(), cluster.bucket()));
        client.env["AWS_ACCESS_KEY_ID"] = cluster.read_write().access_key;
        client.env["AWS_SECRET_ACCESS_KEY"] = cluster.read_write().secret_key;
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        add_random_files(source / "data", "f", 12, 300 * 1024);
        client.run({"init"});
        client.run({"backup", source.string()});

        fs::path root = dir->path() / "backups";
        fs::path disk = dir->path() / "usb-disk" / "web1";
        fs::create_directories(disk);
        const auto& ro = cluster.read_only();
        auto paths =
            provision_remote_client(root, fmt::format("store:{}/web1", cluster.bucket()),
                                    s3_remote_section("store", "SeaweedFS", cluster.endpoint(),
                                                      ro.access_key, ro.secret_key),
                                    {{"disk", disk, ""}, {"offsite", "", "offsite:replica/web1"}});
        // The S3 destination's credentials: the service's environment, as for a local primary.
        Environment env = base_environment();
        offsite.add_rclone_remote(env, "offsite");

        // All up: both replicas are complete and checked.
        auto full = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO("first run\nstdout:\n" << full.out << "\nstderr:\n" << full.err);
        REQUIRE(full.exit_code() == 0);
        auto disk_client = client_at(client, disk.string(), dir->path() / "cache-disk");
        disk_client.run({"check", "--read-data"});
        auto offsite_client = client_at(client, "s3:" + offsite.endpoint() + "/replica/web1",
                                        dir->path() / "cache-offsite");
        offsite_client.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        offsite_client.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        offsite_client.run({"check", "--read-data"});

        // More backups, then one volume server down such that the config is still readable
        // (else the run could not even start) and a new object is not (else the run has
        // nothing to fail on): which objects a volume holds is SeaweedFS's choice, so both
        // servers are tried, with one more backup between tries.
        Environment probe = base_environment();
        cluster.add_rclone_remote(probe, "probe", ro);
        std::string repo = fmt::format("probe:{}/web1", cluster.bucket());
        auto readable = [&](const std::string& relative) {
            return run_cmd({require_program("rclone"), "--retries", "1", "--low-level-retries", "1",
                            "cat", repo + "/" + relative},
                           probe)
                .success();
        };
        auto new_objects = [&] {
            auto listed =
                run_cmd({require_program("rclone"), "lsf", "-R", "--files-only", repo}, probe);
            REQUIRE(listed.success());
            std::vector<std::string> out;
            std::istringstream lines(listed.out);
            for (std::string line; std::getline(lines, line);) {
                if (!line.empty() && !fs::exists(disk / line)) {
                    out.push_back(line);
                }
            }
            return out;
        };
        int victim = -1;
        std::size_t backups = 1;
        for (int round = 2; round <= 5 && victim < 0; ++round) {
            add_random_files(source / "data", fmt::format("r{}", round), 4, 300 * 1024);
            client.run({"backup", source.string()});
            ++backups;
            auto fresh = new_objects();
            for (int v = 0; v < 2 && victim < 0; ++v) {
                cluster.stop_volume(v);
                if (readable("config") &&
                    std::any_of(fresh.begin(), fresh.end(),
                                [&](const auto& relative) { return !readable(relative); })) {
                    victim = v;
                } else {
                    cluster.start_volume(v);
                }
            }
        }
        REQUIRE(victim >= 0);
        auto failed = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO("run with volume" << victim << " down\nstdout:\n"
                               << failed.out << "\nstderr:\n"
                               << failed.err);
        CHECK(failed.exit_code() == 111);
        CHECK(failed.err.find("rclone answered HTTP") != std::string::npos);
        auto status = last_status(paths);
        CHECK(status["exit_code"] == 111);
        CHECK(status["destinations"][0]["state"] == "failed");
        // Nothing partial: no temporary file left, every file there whole; the ledger names
        // only what is there, and not every file of the source.
        CHECK(temporary_files(disk).empty());
        int published = 0;
        CHECK(verify_repository_files(disk, &published).empty());
        auto ledger =
            core::read_replica_ledger(core::replica_ledger_path(paths.state.string(), "disk"));
        REQUIRE(ledger);
        std::size_t in_ledger = 0;
        if (*ledger) {
            for (auto phase : core::k_replicate_phases) {
                for (const auto& id : (**ledger).ids[core::phase_index(phase)]) {
                    ++in_ledger;
                    CHECK(fs::exists(disk / core::replica_path(phase, id)));
                }
            }
        }
        CHECK(in_ledger < status["source_files"].get<std::size_t>());
        std::cout << fmt::format("replicate-seaweed: volume{} down: exit {}, {} files published "
                                 "of {}, {} in the ledger\n",
                                 victim, failed.exit_code(), published,
                                 status["source_files"].get<std::size_t>(), in_ledger);

        cluster.start_volume(victim);
        auto again = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO("run with every volume up\nstdout:\n" << again.out << "\nstderr:\n" << again.err);
        REQUIRE(again.exit_code() == 0);
        for (const auto& d : last_status(paths)["destinations"]) {
            CHECK(d["state"] == "ok");
        }
        CHECK(temporary_files(disk).empty());
        disk_client.run({"check", "--read-data"});
        CHECK(util::Json::parse(disk_client.run({"snapshots", "--json"}).out).size() == backups);
        offsite_client.run({"check", "--read-data"});
        CHECK(util::Json::parse(offsite_client.run({"snapshots", "--json"}).out).size() == backups);
        cluster.stop();
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate: from a remote primary, a file that does not hash to its name reaches no "
          "destination, and keep_deleted mirrors the primary's prune late",
          "[replicate][rclone][remote]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-remote-local");
    REQUIRE(dir);
    {
        // The primary is a repository behind rclone's local backend: the same rcd, listing and
        // streaming as for S3, without a server.
        fs::path repository = dir->path() / "primary" / "web1";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (int round = 1; round <= 3; ++round) {
            add_random_files(source / "round", fmt::format("r{}", round), 5, 20 * 1024);
            client.run({"backup", source.string()});
        }
        std::string bogus = "data/ab/ab" + std::string(62, 'c');
        fs::create_directories(repository / "data" / "ab");
        REQUIRE(
            util::atomic_write((repository / bogus).string(), "not what its name says\n", 0600));

        fs::path root = dir->path() / "backups";
        fs::path disk = dir->path() / "usb-disk" / "web1";
        fs::path offsite = dir->path() / "offsite" / "web1";
        fs::create_directories(disk);
        core::Destination local("disk", disk, "");
        core::Destination remote("offsite", "", "dst:" + offsite.string());
        for (auto* d : {&local, &remote}) {
            d->keep_deleted = std::chrono::seconds(86400);
            d->hold_above_percent = 100;
        }
        auto paths = provision_remote_client(root, "src:" + repository.string(),
                                             "[src]\ntype = local\n", {local, remote});
        // As backup-syncd runs its sync command in listing mode: RCLONE_CONFIG names the client's
        // file, which is the primary's; the destination's remote is in rclone's default config.
        Environment env = base_environment();
        env["RCLONE_CONFIG"] = (paths.secrets / "rclone.conf").string();
        env["HOME"] = (dir->path() / "home").string();
        fs::create_directories(dir->path() / "home" / ".config" / "rclone");
        REQUIRE(util::atomic_write(
            (dir->path() / "home" / ".config" / "rclone" / "rclone.conf").string(),
            "[dst]\ntype = local\n", 0600));

        auto first = run_replicate({"--root", root.string(), "--client", "web1"}, env);
        INFO("first run\nstdout:\n" << first.out << "\nstderr:\n" << first.err);
        CHECK(first.exit_code() == 1);
        CHECK(first.err.find("unable to replicate " + bogus + ": its content hashes to") !=
              std::string::npos);
        for (const auto& replica : {disk, offsite}) {
            CHECK_FALSE(fs::exists(replica / bogus));
            CHECK(temporary_files(replica).empty());
            CHECK(verify_repository_files(replica).empty());
        }

        // The client prunes its primary; a run sees the files gone, one two days on deletes them.
        fs::remove(repository / bogus);
        client.run({"forget", "--keep-last", "1", "--prune"});
        std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
        auto seen = run_replicate(
            {"--root", root.string(), "--client", "web1", "--now", std::to_string(now)}, env);
        INFO("run that sees the prune\nstdout:\n" << seen.out << "\nstderr:\n" << seen.err);
        REQUIRE(seen.exit_code() == 0);
        for (const auto& d : last_status(paths)["destinations"]) {
            CHECK(d["retention"]["pending_files"].get<std::size_t>() > 0);
        }
        auto late = run_replicate(
            {"--root", root.string(), "--client", "web1", "--now", std::to_string(now + 2 * 86400)},
            env);
        INFO("run two days on\nstdout:\n" << late.out << "\nstderr:\n" << late.err);
        REQUIRE(late.exit_code() == 0);
        for (const auto& d : last_status(paths)["destinations"]) {
            CHECK(d["retention"]["files_deleted"].get<std::size_t>() > 0);
            CHECK(d["retention"]["pending_files"] == 0);
        }
        for (const auto& replica : {disk, offsite}) {
            auto at = client_at(client, replica.string(),
                                dir->path() / "cache" / replica.parent_path().filename());
            at.run({"check", "--read-data"});
            CHECK(util::Json::parse(at.run({"snapshots", "--json"}).out).size() == 1);
        }
    }
    require_no_processes(dir->path());
}
