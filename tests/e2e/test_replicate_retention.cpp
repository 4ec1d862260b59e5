// Retention per destination with real restic: a client backs up once a simulated day and prunes
// its primary (`forget --keep-last 3 --prune`); restic-replicate --now mirrors the prunes to a
// local `forever` destination, a local `keep_deleted: 4d` one and an S3 (versitygw, through
// rclone) `keep_deleted: 2d` one. Every replica passes `restic check` after every day and holds
// exactly the snapshots it must. A wipe of the primary is held until --confirm-deletions, and a
// file put into a destination by hand is never deleted. restic-replicate killed (SIGKILL) at
// random points of its deletion phases leaves a replica restic check accepts, and the next run
// finishes the job.
#include "model/config.hpp"
#include "model/layout.hpp"
#include "state/replicate_ledger.hpp"
#include "support/fixtures.hpp"
#include "support/repository_files.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/random.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <functional>
#include <random>
#include <set>
#include <sys/wait.h>

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
    // Many snapshots cheaply: backups of a few pad files and a day file, then restic rewrite
    // rounds that each double the snapshots (a tree pack, an index file and a snapshot each).
    void many_snapshots(int backups, int rewrites) const {
        for (int k = 0; k < rewrites; ++k) {
            REQUIRE(util::atomic_write((source / fmt::format("pad-{}", k)).string(),
                                       fmt::format("pad {}", k), 0644));
        }
        for (int day = 0; day < backups; ++day) {
            backup(day);
        }
        for (int k = 0; k < rewrites; ++k) {
            restic.run({"rewrite", "-q", "--exclude", fmt::format("pad-{}", k)});
        }
    }
    std::vector<std::string> replicate_argv(std::int64_t now,
                                            const std::vector<std::string>& extra) const {
        std::vector<std::string> argv = {tools_dir() + "/restic-replicate",
                                         "--root",
                                         root.string(),
                                         "--client",
                                         "web1",
                                         "--now",
                                         std::to_string(now)};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
    ProcessResult replicate(std::int64_t now, std::vector<std::string> extra = {}) const {
        return run_cmd(replicate_argv(now, extra), env);
    }
    fs::path state_dir() const { return core::ServerLayout(root).client("web1").state; }
    // rclone reaches the S3 server as the remote "offsite:", credentials by environment.
    void use_s3(const VersitygwServer& offsite) { offsite.add_rclone_remote(env, "offsite"); }
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

// A destination with many deletions due: the primary pruned down to its last snapshot, which a
// run saw keep_deleted (1 day) ago; the replica's files and the client's state saved then, so
// that every kill starts from the same point.
struct DueDeletions {
    std::string name;
    fs::path replica;             // its files on disk (for S3: the versitygw directory)
    std::set<std::string> before; // what it holds before the deletions
    std::set<std::string> after;  // and once they are done: the primary's files
    std::vector<std::string> due; // before - after
    fs::path saved;
    fs::path saved_state;
    std::function<void()> put_back; // the saved files into the destination
};

constexpr std::int64_t k_due_time = k_t0 + 2 * k_day;

DueDeletions prepare_due_deletions(const RetentionClient& c, const std::string& name,
                                   const fs::path& replica) {
    c.many_snapshots(4, 4); // 64 snapshots, ~270 files
    REQUIRE(c.replicate(k_t0).exit_code() == 0);
    c.restic.run({"forget", "-q", "--keep-last", "1", "--prune"});
    REQUIRE(c.replicate(k_t0).exit_code() == 0); // seen gone, due a day later
    DueDeletions d;
    d.name = name;
    d.replica = replica;
    d.before = repository_files(replica);
    d.after = repository_files(c.repository);
    REQUIRE(std::includes(d.before.begin(), d.before.end(), d.after.begin(), d.after.end()));
    std::set_difference(d.before.begin(), d.before.end(), d.after.begin(), d.after.end(),
                        std::back_inserter(d.due));
    REQUIRE(d.due.size() > 150);
    d.saved = c.dir.path() / (name + "-saved");
    d.saved_state = c.dir.path() / (name + "-saved-state");
    fs::copy(replica, d.saved, fs::copy_options::recursive);
    fs::copy(c.state_dir(), d.saved_state, fs::copy_options::recursive);
    return d;
}

enum class Landed { inside, after };

std::size_t files_gone(const DueDeletions& d) {
    std::size_t gone = 0;
    for (const auto& relative : d.due) {
        std::error_code ec;
        gone += fs::exists(d.replica / relative, ec) || ec ? 0 : 1;
    }
    return gone;
}

// One run that deletes d.due, SIGKILLed (its rclone with it: same process group) as soon as at
// least target of those files are gone from the replica. The kill landed inside the deletion
// phases when a due file is still there or the ledger still lists one that is gone; else the
// run had finished its deletions (or exited) by then.
Landed kill_after_deleting(const RetentionClient& c, const DueDeletions& d, std::size_t target,
                           std::size_t& gone) {
    util::SpawnOptions o;
    o.argv = c.replicate_argv(k_due_time, {"--confirm-deletions", d.name});
    o.env = c.env;
    o.stdout_mode = util::Output::null;
    o.stderr_mode = util::Output::null;
    auto child = util::Child::spawn(o);
    REQUIRE(child);
    while (files_gone(d) < target) {
        auto exited = child->wait_for(std::chrono::milliseconds(1));
        REQUIRE(exited);
        if (*exited) {
            REQUIRE(WIFEXITED(**exited));
            REQUIRE(WEXITSTATUS(**exited) == 0);
            gone = files_gone(d);
            return Landed::after;
        }
    }
    child->signal(SIGKILL);
    auto status = child->wait();
    REQUIRE(status);
    gone = files_gone(d);
    if (!WIFSIGNALED(*status)) {
        return Landed::after; // it exited on its own just then
    }
    if (gone < d.due.size()) {
        return Landed::inside;
    }
    auto ledger = core::read_replica_ledger(
        core::replica_ledger_path(c.state_dir().string(), d.name)); // phases end with a write
    REQUIRE(ledger);
    REQUIRE(*ledger);
    for (const auto& relative : d.due) {
        std::string id = fs::path(relative).filename().string();
        for (const auto& ids : (*ledger)->ids) {
            if (ids.contains(id)) {
                return Landed::inside;
            }
        }
    }
    return Landed::after;
}

// kills runs at random points of their deletion phases, each from the saved point; after each,
// restic check passes on the replica and the next run finishes the job.
void kill_during_deletions(const RetentionClient& c, const DueDeletions& d,
                           const ResticClient& replica, int kills) {
    std::random_device device;
    unsigned seed = device();
    std::mt19937 random(seed);
    std::uniform_int_distribution<std::size_t> pick(1, d.due.size());
    INFO("seed " << seed << ", " << d.due.size() << " deletions due");
    std::vector<std::size_t> points;
    int retried = 0;
    int missed_in_a_row = 0;
    while (static_cast<int>(points.size()) < kills) {
        REQUIRE(retried < kills); // the kills must land inside the deletions, or prove nothing
        fs::remove_all(c.state_dir());
        fs::copy(d.saved_state, c.state_dir(), fs::copy_options::recursive);
        d.put_back();
        REQUIRE(repository_files(d.replica) == d.before);
        // A point that came too late is tried again earlier.
        std::size_t target = std::max<std::size_t>(1, pick(random) >> missed_in_a_row);
        std::size_t gone = 0;
        if (kill_after_deleting(c, d, target, gone) != Landed::inside) {
            ++retried;
            ++missed_in_a_row;
            continue;
        }
        missed_in_a_row = 0;
        points.push_back(gone);
        INFO("killed with " << gone << " of the " << d.due.size() << " files deleted");
        replica.run({"--no-cache", "check", "-q"});
        auto next = c.replicate(k_due_time, {"--confirm-deletions", d.name});
        INFO(next.out + next.err);
        REQUIRE(next.exit_code() == 0);
        REQUIRE(repository_files(d.replica) == d.after);
    }
    replica.run({"--no-cache", "check", "-q"});
    std::sort(points.begin(), points.end());
    WARN(fmt::format("{}: {} kills in the deletion of {} files, at {} deleted; {} retried", d.name,
                     kills, d.due.size(), fmt::join(points, " "), retried));
}

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
        c.use_s3(offsite);
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

TEST_CASE("retention: SIGKILL at random points of the deletions to a local replica: restic check "
          "passes after each, the next run finishes the job",
          "[replicate][retention][kill]") {
    RetentionClient c("e2e-retention-kill-local");
    fs::path top = c.dir.path();
    c.configure({c.local("usb", 1)});
    auto d = prepare_due_deletions(c, "usb", top / "usb");
    d.put_back = [&] {
        fs::remove_all(d.replica);
        fs::copy(d.saved, d.replica, fs::copy_options::recursive);
    };
    kill_during_deletions(c, d, c.at(d.replica.string(), "cache-usb"), 20);
    require_no_processes(top);
}

TEST_CASE("retention: SIGKILL at random points of the deletions to an S3 replica (rclone): "
          "restic check passes after each, the next run finishes the job",
          "[replicate][retention][kill][versitygw][rclone]") {
    require_program("rclone");
    RetentionClient c("e2e-retention-kill-s3");
    fs::path top = c.dir.path();
    {
        VersitygwServer offsite(top / "offsite");
        c.use_s3(offsite);
        // restic-replicate's rclone rcd has its socket directory, and so its command line, in
        // here: the check at the end sees one that outlived a killed run.
        fs::create_directories(top / "tmp");
        c.env["TMPDIR"] = (top / "tmp").string();
        core::Destination s3("offsite", "", "offsite:replica/web1");
        s3.keep_deleted = std::chrono::seconds(k_day);
        c.configure({s3});
        auto d = prepare_due_deletions(c, "offsite", offsite.data_dir() / "replica" / "web1");
        // The files rclone deleted, uploaded again (the others are left as they are).
        d.put_back = [&] {
            auto copied = run_cmd({"rclone", "copy", "-q", "--ignore-existing", d.saved.string(),
                                   "offsite:replica/web1"},
                                  c.env);
            INFO(copied.out + copied.err);
            REQUIRE(copied.exit_code() == 0);
        };
        auto remote = c.at("s3:" + offsite.endpoint() + "/replica/web1", "cache-s3");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        kill_during_deletions(c, d, remote, 10);
    }
    require_no_processes(top);
}

TEST_CASE("retention: a failed deletion keeps its batch pending, stops the later phases, and the "
          "next run deletes it",
          "[replicate][retention][versitygw][rclone]") {
    require_program("rclone");
    RetentionClient c("e2e-retention-delete-fails");
    fs::path top = c.dir.path();
    // A file that even root cannot unlink (ext4's immutable flag) makes the local unlink fail,
    // and versitygw's DeleteObject answer 500, so that rclone delete fails.
    auto immutable = [&](const fs::path& file, bool on) {
        return run_cmd({"chattr", on ? "+i" : "-i", file.string()}, c.env).exit_code() == 0;
    };
    {
        VersitygwServer offsite(top / "offsite");
        c.use_s3(offsite);
        c.env["RCLONE_LOW_LEVEL_RETRIES"] = "1"; // fail at once, not after minutes of backoff
        core::Destination s3("offsite", "", "offsite:replica/web1");
        s3.keep_deleted = std::chrono::seconds(k_day);
        c.configure({c.local("usb", 1), s3});
        for (int day = 0; day < 3; ++day) {
            c.backup(day);
        }
        REQUIRE(c.replicate(k_t0).exit_code() == 0);
        auto three = snapshot_files(c.repository);
        c.restic.run({"forget", "-q", "--keep-last", "1", "--prune"});
        REQUIRE(c.replicate(k_t0).exit_code() == 0); // seen gone, due a day later
        auto kept = repository_files(c.repository);
        const std::vector<fs::path> replicas = {top / "usb", offsite.data_dir() / "replica/web1"};
        std::string stuck = "snapshots/" + *three.begin();
        if (kept.contains(stuck)) {
            stuck = "snapshots/" + *std::next(three.begin());
        }
        if (!immutable(replicas[0] / stuck, true)) {
            WARN("chattr +i is not possible here (needs ext4 and CAP_LINUX_IMMUTABLE): skipped");
            return;
        }
        REQUIRE(immutable(replicas[1] / stuck, true));

        std::vector<std::set<std::string>> before;
        for (const auto& replica : replicas) {
            before.push_back(repository_files(replica));
        }
        auto failed = c.replicate(k_t0 + 2 * k_day,
                                  {"--confirm-deletions", "usb", "--confirm-deletions", "offsite"});
        INFO(failed.out + failed.err);
        CHECK(failed.exit_code() != 0);
        CHECK(failed.err.find("unable to replicate to usb: ") != std::string::npos);
        CHECK(failed.err.find("unable to replicate to offsite: ") != std::string::npos);
        auto status = c.status();
        for (std::size_t i = 0; i < replicas.size(); ++i) {
            INFO(replicas[i]);
            auto files = repository_files(replicas[i]);
            CHECK(files.contains(stuck));
            // The snapshots phase failed: not one index file or pack was deleted after it.
            std::size_t later_phases = 0;
            for (const auto& relative : before[i]) {
                if (!relative.starts_with("snapshots/") && !kept.contains(relative)) {
                    ++later_phases;
                    CHECK(files.contains(relative));
                }
            }
            CHECK(later_phases > 0);
            const auto& d = status["destinations"][i];
            CHECK(d["state"] == "failed");
            CHECK(d["retention"]["pending_files"].get<int>() > 0);
        }
        auto usb = c.at(replicas[0].string(), "cache-usb");
        usb.run({"--no-cache", "check", "-q"});
        auto remote = c.at("s3:" + offsite.endpoint() + "/replica/web1", "cache-s3");
        remote.env["AWS_ACCESS_KEY_ID"] = offsite.access_key();
        remote.env["AWS_SECRET_ACCESS_KEY"] = offsite.secret_key();
        remote.run({"--no-cache", "check", "-q"});

        // Deletable again: the next run deletes the whole batch and the later phases.
        REQUIRE(immutable(replicas[0] / stuck, false));
        REQUIRE(immutable(replicas[1] / stuck, false));
        auto next = c.replicate(k_t0 + 2 * k_day,
                                {"--confirm-deletions", "usb", "--confirm-deletions", "offsite"});
        INFO(next.out + next.err);
        CHECK(next.exit_code() == 0);
        for (const auto& replica : replicas) {
            CHECK(repository_files(replica) == kept);
        }
        usb.run({"--no-cache", "check", "-q"});
        remote.run({"--no-cache", "check", "-q"});
    }
    require_no_processes(top);
}
