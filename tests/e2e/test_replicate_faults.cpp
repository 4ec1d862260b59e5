// restic-replicate when the source or a destination is not as it should be: a pruned source, a
// corrupted pack, a destination that is another repository.
#include "model/repository.hpp"
#include "replicate/store.hpp"
#include "state/replicate_ledger.hpp"
#include "support/fixtures.hpp"
#include "support/replicate_runs.hpp"
#include "support/repository_files.hpp"
#include "util/json.hpp"
#include "util/random.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iterator>
#include <set>

using namespace backup;
using namespace backup::test;

namespace {

void write_random_files(const fs::path& dir, const std::string& prefix, int count,
                        std::size_t size) {
    fs::create_directories(dir);
    for (int i = 0; i < count; ++i) {
        auto bytes = util::random_bytes(size);
        REQUIRE(bytes);
        REQUIRE(util::atomic_write((dir / fmt::format("{}-{}", prefix, i)).string(), *bytes, 0644));
    }
}

// Repository files other than locks under dir.
// One bit flipped in the middle of a (read-only) repository file: damage restic would not see.
void flip_middle_byte(const fs::path& file) {
    fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
    auto content = util::read_file(file.string());
    REQUIRE(content);
    (*content)[content->size() / 2] ^= 0x20;
    REQUIRE(util::atomic_write(file.string(), *content, 0400));
}

std::vector<std::string> snapshot_ids(const ResticClient& client) {
    auto json = util::Json::parse(client.run({"snapshots", "--json"}).out);
    std::vector<std::string> ids;
    for (const auto& s : json) {
        ids.push_back(s["id"].get<std::string>());
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

Environment with_remote(Environment env, const std::string& name, const VersitygwServer& server) {
    std::string prefix = "RCLONE_CONFIG_" + name + "_";
    env[prefix + "TYPE"] = "s3";
    env[prefix + "PROVIDER"] = "Other";
    env[prefix + "ENDPOINT"] = server.endpoint();
    env[prefix + "ACCESS_KEY_ID"] = server.access_key();
    env[prefix + "SECRET_ACCESS_KEY"] = server.secret_key();
    return env;
}

// A copy of a directory tree, to show later that nothing in it changed.
fs::path keep_copy(const fs::path& dir, const fs::path& copy) {
    fs::copy(dir, copy, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    return copy;
}

} // namespace

TEST_CASE("replicate: after a forget and prune at the source, the replica keeps the older "
          "snapshots and stays valid",
          "[replicate][prune]") {
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-prune");
    REQUIRE(dir);
    {
        fs::path repository = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        fs::path source = dir->path() / "source";
        fs::path first_tree = dir->path() / "first-tree";
        for (int round = 0; round < 3; ++round) {
            // Each backup replaces the previous files, so a prune has packs to remove.
            fs::remove_all(source);
            write_random_files(source, fmt::format("r{}", round), 30, 30 * 1024);
            if (round == 0) {
                keep_copy(source, first_tree);
            }
            client.run({"backup", source.string()});
        }
        fs::path dest = dir->path() / "replica";
        fs::create_directories(dest);
        fs::path state = dir->path() / "state";
        Environment env = base_environment();
        auto first =
            run_replicate({"--state-dir", state.string(), repository.string(), dest.string()}, env);
        INFO(first.out + first.err);
        REQUIRE(first.exit_code() == 0);
        auto replica = client_at(client, dest.string(), dir->path() / "cache-replica");
        auto before_prune = snapshot_ids(client);
        REQUIRE(before_prune.size() == 3);

        client.run({"forget", "--keep-last", "1", "--prune"});
        write_random_files(source, "after-prune", 10, 30 * 1024);
        client.run({"backup", source.string()});
        auto at_source = snapshot_ids(client);
        REQUIRE(at_source.size() == 2);

        auto second =
            run_replicate({"--state-dir", state.string(), repository.string(), dest.string()}, env);
        INFO(second.out + second.err);
        REQUIRE(second.exit_code() == 0);
        replica.run({"check", "--read-data"});
        // Nothing was deleted: the replica holds every snapshot it ever received.
        std::set<std::string> expected(before_prune.begin(), before_prune.end());
        expected.insert(at_source.begin(), at_source.end());
        auto at_replica = snapshot_ids(replica);
        CHECK(std::set<std::string>(at_replica.begin(), at_replica.end()) == expected);
        CHECK(at_replica.size() == 4);
        // The oldest snapshot, long gone at the source, still restores from the replica.
        // Snapshot ids sort by content, not time: find the one holding the first tree.
        fs::path restored = dir->path() / "restored";
        bool found = false;
        for (const auto& id : before_prune) {
            fs::remove_all(restored);
            replica.run({"restore", id, "--target", restored.string()});
            if (compare_trees(first_tree, restored / source.relative_path()).empty()) {
                found = true;
            }
        }
        CHECK(found);
        // Every file at the source is at the replica, and more.
        auto replica_files = repository_files(dest);
        for (const auto& f : repository_files(repository)) {
            CHECK(replica_files.contains(f));
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate: a corrupted pack at the source is reported and never sent, the rest is "
          "copied",
          "[replicate][corrupt][rclone]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-corrupt");
    REQUIRE(dir);
    {
        VersitygwServer offsite(dir->path() / "offsite");
        fs::path repository = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        client.run({"backup", source.string()});
        write_random_files(source / "more", "m", 20, 50 * 1024);
        client.run({"backup", source.string()});

        // One byte flipped in the middle of a pack.
        auto files = repository_files(repository);
        std::string pack;
        for (const auto& f : files) {
            if (f.starts_with("data/")) {
                pack = f;
                break;
            }
        }
        REQUIRE_FALSE(pack.empty());
        flip_middle_byte(repository / pack);

        fs::path dest = dir->path() / "replica";
        fs::create_directories(dest);
        Environment env = with_remote(base_environment(), "OFFSITE", offsite);
        auto result = run_replicate({"--state-dir", (dir->path() / "state").string(),
                                     repository.string(), dest.string(), "offsite:replica/web1"},
                                    env);
        INFO(result.out + result.err);
        CHECK(result.exit_code() == 1);
        // Reported once, on stderr, for both destinations.
        auto report_line = fmt::format("restic-replicate: error: unable to replicate {}", pack);
        auto at = result.err.find(report_line);
        CHECK(at != std::string::npos);
        CHECK(result.err.find(report_line, at + 1) == std::string::npos);

        auto expected = files;
        expected.erase(pack);
        CHECK(repository_files(dest) == expected);
        CHECK(repository_files(offsite.data_dir() / "replica" / "web1") == expected);
        auto status = util::read_json_file((dir->path() / "state/replicate-status.json").string());
        REQUIRE(status);
        CHECK((*status)["corrupt_files"] == util::Json::array({pack}));
        for (const auto& d : (*status)["destinations"]) {
            CHECK(d["state"] == "incomplete");
            CHECK(d["not_sent"] == 1);
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate: a destination holding another repository's config is refused, nothing "
          "written there",
          "[replicate][config][rclone]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-config");
    REQUIRE(dir);
    {
        VersitygwServer offsite(dir->path() / "offsite");
        fs::path repository = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        client.run({"backup", source.string()});

        // Two other repositories: a local one and one on the S3 server.
        fs::path foreign = dir->path() / "foreign";
        auto other = make_restic_client(dir->path() / "other-client", foreign.string());
        other.run({"init"});
        other.run({"backup", source.string()});
        auto other_s3 = make_restic_client(dir->path() / "other-s3-client",
                                           "s3:" + offsite.endpoint() + "/replica/web1");
        other_s3.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        other_s3.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        other_s3.run({"init"});
        fs::path foreign_copy = keep_copy(foreign, dir->path() / "foreign-before");
        fs::path bucket = offsite.data_dir() / "replica";
        fs::path bucket_copy = keep_copy(bucket, dir->path() / "bucket-before");

        fs::path good = dir->path() / "good";
        fs::create_directories(good);
        Environment env = with_remote(base_environment(), "OFFSITE", offsite);
        auto result =
            run_replicate({"--state-dir", (dir->path() / "state").string(), repository.string(),
                           foreign.string(), "offsite:replica/web1", good.string()},
                          env);
        INFO(result.out + result.err);
        // Two destinations refused, one fine: a partial failure.
        CHECK(result.exit_code() == 1);
        CHECK(result.err.find(fmt::format("unable to replicate to {}: it holds a different config",
                                          foreign.string())) != std::string::npos);
        CHECK(result.err.find("unable to replicate to offsite:replica/web1: it holds a different "
                              "config") != std::string::npos);
        auto local_diffs = compare_trees(foreign_copy, foreign);
        INFO(fmt::format("{}", fmt::join(local_diffs, "\n")));
        CHECK(local_diffs.empty());
        auto bucket_diffs = compare_trees(bucket_copy, bucket);
        INFO(fmt::format("{}", fmt::join(bucket_diffs, "\n")));
        CHECK(bucket_diffs.empty());
        CHECK(repository_files(good) == repository_files(repository));

        // Only refused destinations: a permanent failure (100).
        auto refused = run_replicate({repository.string(), foreign.string()}, env);
        CHECK(refused.exit_code() == 100);
        CHECK(compare_trees(foreign_copy, foreign).empty());
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate: files already at an S3 destination are taken when the same and never "
          "overwritten when they differ",
          "[replicate][rclone]") {
    require_program("rclone");
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-existing");
    REQUIRE(dir);
    {
        VersitygwServer offsite(dir->path() / "offsite");
        fs::path repository = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repository.string());
        client.run({"init"});
        fs::path source = dir->path() / "source";
        write_random_files(source, "file", 20, 4096);
        client.run({"backup", source.string()});
        Environment env = with_remote(base_environment(), "OFFSITE", offsite);
        // TMPDIR here: the check at the end also sees an rclone rcd that outlived its run.
        fs::create_directories(dir->path() / "tmp");
        env["TMPDIR"] = (dir->path() / "tmp").string();

        std::vector<std::string> args = {"--state-dir", (dir->path() / "state").string(),
                                         repository.string(), "offsite:replica/web1"};
        REQUIRE(run_replicate(args, env).exit_code() == 0);

        // After the run, behind its back (its ledger does not know them): the next backup's new
        // pack put there as it is, its new index file with other bytes.
        auto before = repository_files(repository);
        write_random_files(source, "more", 5, 4096);
        client.run({"backup", source.string()});
        auto files = repository_files(repository);
        std::vector<std::string> added;
        std::set_difference(files.begin(), files.end(), before.begin(), before.end(),
                            std::back_inserter(added));
        auto first_of = [&](std::string_view kind) {
            auto it = std::find_if(added.begin(), added.end(),
                                   [&](const auto& f) { return f.starts_with(kind); });
            REQUIRE(it != added.end());
            return *it;
        };
        std::string pack = first_of("data/");
        std::string index = first_of("index/");
        std::string snapshot = first_of("snapshots/");
        auto put = run_cmd({"rclone", "copyto", "-q", (repository / pack).string(),
                            "offsite:replica/web1/" + pack},
                           env);
        REQUIRE(put.exit_code() == 0);
        fs::path other = dir->path() / "other-bytes";
        REQUIRE(util::atomic_write(other.string(), "not this index\n", 0600));
        put = run_cmd({"rclone", "copyto", "-q", other.string(), "offsite:replica/web1/" + index},
                      env);
        REQUIRE(put.exit_code() == 0);

        auto refused = run_replicate(args, env);
        INFO(refused.out + refused.err);
        CHECK(refused.exit_code() == 100); // its only destination failed for good
        CHECK(refused.err.find("immutable") != std::string::npos);
        fs::path bucket = offsite.data_dir() / "replica" / "web1";
        auto kept = util::read_file((bucket / index).string());
        REQUIRE(kept);
        CHECK(*kept == "not this index\n");
        CHECK_FALSE(fs::exists(bucket / snapshot)); // the phase after the failed one waits

        // Once the differing file is gone, the next run completes the replica; the pack found
        // there stays a file that was found, not one that was copied.
        REQUIRE(run_cmd({"rclone", "deletefile", "-q", "offsite:replica/web1/" + index}, env)
                    .exit_code() == 0);
        auto next = run_replicate(args, env);
        INFO(next.out + next.err);
        CHECK(next.exit_code() == 0);
        CHECK(repository_files(bucket) == files);
        std::string id = pack.substr(pack.rfind('/') + 1);
        int ledgers = 0;
        for (const auto& entry : fs::directory_iterator(dir->path() / "state" / "replicate")) {
            std::string name = entry.path().filename().string();
            if (!name.ends_with(".ledger")) {
                continue; // the ledger's journal, the lock, the marker of an interrupted run
            }
            auto ledger = core::read_replica_ledger(entry.path().string());
            REQUIRE(ledger);
            REQUIRE(*ledger);
            ++ledgers;
            auto data = core::phase_index(core::ReplicatePhase::data);
            CHECK((*ledger)->ids[data].size() == (*ledger)->copied[data].size() + 1);
            CHECK_FALSE((*ledger)->copied[data].contains(id));
        }
        CHECK(ledgers == 1);
        auto remote = client_at(client, "s3:" + offsite.endpoint() + "/replica/web1",
                                dir->path() / "cache-s3");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        remote.run({"--no-cache", "check", "-q"});
    }
    require_no_processes(dir->path());
}

TEST_CASE("replicate and audit: an unlistable data directory is reported, everything else is "
          "audited and copied",
          "[replicate][audit][faults]") {
    auto dir = util::TempDir::create_in_tmp("e2e-unlistable");
    REQUIRE(dir);
    fs::permissions(dir->path(), fs::perms(0755));
    fs::path repository = dir->path() / "repo";
    auto client = make_restic_client(dir->path() / "client", repository.string());
    client.run({"init"});
    fs::path source = dir->path() / "source";
    make_sample_tree(source);
    client.run({"backup", source.string()});
    write_random_files(source / "more", "m", 40, 40 * 1024);
    client.run({"backup", source.string()});

    // One data/XX made unlistable (as the service user sees it), and a flipped byte in a pack
    // of another directory that the audit must still find.
    auto files = repository_files(repository);
    std::string blocked, flipped;
    for (const auto& f : files) {
        if (!f.starts_with("data/")) {
            continue;
        }
        std::string sub = f.substr(0, 7);
        if (blocked.empty()) {
            blocked = sub;
        } else if (sub != blocked) {
            flipped = f;
            break;
        }
    }
    REQUIRE_FALSE(flipped.empty());
    flip_middle_byte(repository / flipped);

    // The tools as the services' user, from where it can run them.
    fs::path bin = dir->path() / "bin";
    fs::create_directories(bin);
    for (const auto* tool : {"restic-audit", "restic-replicate"}) {
        fs::copy_file(fs::path(tools_dir()) / tool, bin / tool);
    }
    fs::path dest = dir->path() / "replica";
    fs::path audit_state = dir->path() / "audit-state";
    fs::path replicate_state = dir->path() / "replicate-state";
    for (const auto& d : {dest, audit_state, replicate_state}) {
        fs::create_directories(d);
    }
    for (const auto& d : {repository, dest, audit_state, replicate_state}) {
        REQUIRE(
            run_cmd({"chown", "-R", "nobody:nogroup", d.string()}, base_environment()).success());
    }
    fs::permissions(repository / blocked, fs::perms::none);
    auto as_nobody = [&](std::vector<std::string> args) {
        args.insert(args.begin(),
                    {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"});
        return run_cmd(std::move(args), base_environment());
    };

    auto audit = as_nobody({(bin / "restic-audit").string(), "--all", "--state-dir",
                            audit_state.string(), repository.string()});
    INFO(audit.out + audit.err);
    CHECK(audit.exit_code() == 111);
    CHECK(audit.err.find(flipped) != std::string::npos); // found beside the blocked directory
    CHECK(audit.err.find((repository / blocked).string()) != std::string::npos);
    int state_files = 0;
    for (const auto& e : fs::directory_iterator(audit_state)) {
        if (e.path().string().ends_with(".state.json")) {
            ++state_files;
            auto state = util::read_json_file(e.path().string());
            REQUIRE(state);
            CHECK((*state)["last_full_coverage"].is_null()); // no coverage claimed
        }
    }
    CHECK(state_files == 1);

    auto run = as_nobody({(bin / "restic-replicate").string(), "--state-dir",
                          replicate_state.string(), repository.string(), dest.string()});
    INFO(run.out + run.err);
    CHECK(run.exit_code() == 111);
    CHECK(run.err.find(blocked) != std::string::npos);
    auto expected = files;
    std::erase_if(expected, [&](const std::string& f) { return f.starts_with(blocked + "/"); });
    expected.erase(flipped);
    CHECK(repository_files(dest) == expected); // keys, config, the readable packs, index, snapshots
    auto status = util::read_json_file((replicate_state / "replicate-status.json").string());
    REQUIRE(status);
    CHECK((*status)["destinations"][0]["state"] == "incomplete");
    CHECK((*status)["unreadable_files"].dump().find(blocked + "/") != std::string::npos);

    // Readable again: the next run copies the rest; only the corrupt pack stays unsent.
    fs::permissions(repository / blocked, fs::perms::owner_all);
    auto again = as_nobody({(bin / "restic-replicate").string(), "--state-dir",
                            replicate_state.string(), repository.string(), dest.string()});
    INFO(again.out + again.err);
    CHECK(again.exit_code() == 1);
    auto all_but_flipped = files;
    all_but_flipped.erase(flipped);
    CHECK(repository_files(dest) == all_but_flipped);
    require_no_processes(dir->path());
}
