#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>

#include "audit/audit.hpp"
#include "audit/command.hpp"
#include "model/config.hpp"
#include "model/layout.hpp"
#include "state/audit_state.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/time.hpp"

using namespace backup::core;
using namespace backup::util;
namespace fs = std::filesystem;

namespace {

// A synthetic repository: files named by the SHA-256 of their content, as restic names them.
class Repo {
public:
    explicit Repo(const fs::path& root) : m_root(root) {
        fs::create_directories(root);
        REQUIRE(atomic_write((root / "config").string(), "not a real config", 0600));
    }

    // Writes content under dir ("data" for a pack: data/<xx>/) and returns the relative path.
    std::string add(const std::string& dir, const std::string& content) {
        std::string id = sha256_hex(content);
        std::string relative = dir == "data" ? fmt::format("data/{}/{}", id.substr(0, 2), id)
                                             : fmt::format("{}/{}", dir, id);
        write(relative, content);
        return relative;
    }

    // Adds a pack whose slot in a cycle of length is slot; returns its relative path.
    std::string add_in_slot(int slot, int length) {
        for (;;) {
            std::string content = fmt::format("pack {} of slot {}/{}", m_counter++, slot, length);
            if (audit_slot(sha256_hex(content), length) == slot) {
                return add("data", content);
            }
        }
    }

    void write(const std::string& relative, const std::string& content) {
        fs::create_directories((m_root / relative).parent_path());
        REQUIRE(atomic_write((m_root / relative).string(), content, 0600));
    }

    std::string path() const { return m_root.string(); }
    std::string file(const std::string& relative) const { return (m_root / relative).string(); }

private:
    fs::path m_root;
    int m_counter = 0;
};

// A hash function that records what it was asked to hash (thread-safe) and hashes for real.
class Recorder {
public:
    HashFunction function() {
        return [this](const std::string& root, const std::string& relative) {
            {
                std::lock_guard lock(m_mutex);
                m_paths.push_back(relative);
            }
            return default_hash_function(true)(root, relative);
        };
    }
    // Relative paths hashed since the last call, with how often each.
    std::map<std::string, int> take() {
        std::lock_guard lock(m_mutex);
        std::map<std::string, int> out;
        for (const auto& p : m_paths) {
            ++out[p];
        }
        m_paths.clear();
        return out;
    }

private:
    std::mutex m_mutex;
    std::vector<std::string> m_paths;
};

AuditTarget target_for(const Repo& repo, const fs::path& state_dir, int length) {
    AuditTarget t;
    t.repository = repo.path();
    t.label = "test";
    t.state_dir = state_dir;
    t.cycle_length = length;
    return t;
}

AuditReport audit(const AuditTarget& target, AuditOptions options = {}) {
    AuditBudget unlimited(std::nullopt, std::nullopt);
    return audit_repository(target, options, unlimited);
}

std::set<std::string> content_addressed_files(const Repo& repo) {
    std::set<std::string> out;
    auto entries = list_audit_entries(repo.path());
    REQUIRE(entries);
    for (const auto& e : *entries) {
        if (is_content_addressed(e.kind)) {
            out.insert(e.relative);
        }
    }
    return out;
}

const Finding* find(const AuditReport& report, const std::string& path, FindingKind kind) {
    for (const auto& f : report.findings) {
        if (f.path == path && f.kind == kind) {
            return &f;
        }
    }
    return nullptr;
}

} // namespace

TEST_CASE("audit: option values are parsed strictly", "[audit]") {
    CHECK(parse_audit_fraction("1/30").value() == 30);
    CHECK(parse_audit_fraction("1/1").value() == 1);
    CHECK(parse_audit_fraction("1/10000").value() == 10000);
    for (const char* bad : {"30", "1/0", "2/30", "1/", "1/10001", "1/3x", "1/-3", "", "1/+3"}) {
        INFO(bad);
        auto r = parse_audit_fraction(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == ExitCode::permanent);
    }
    CHECK(parse_audit_fraction("1/0").error().message() ==
          "unable to use --fraction '1/0': expected 1/N with N from 1 to 10000");
    CHECK(parse_audit_size("123").value() == 123);
    CHECK(parse_audit_size("2K").value() == 2048);
    CHECK(parse_audit_size("3m").value() == 3ULL << 20);
    CHECK(parse_audit_size("2G").value() == 2ULL << 30);
    CHECK(parse_audit_size("1T").value() == 1ULL << 40);
    for (const char* bad : {"", "0", "G", "1X", "1GB", "-1", "99999999999999999999", "16777216T"}) {
        INFO(bad);
        CHECK_FALSE(parse_audit_size(bad));
    }
    CHECK(parse_audit_size("1X").error().message().starts_with("unable to use --max-bytes '1X'"));
    CHECK(parse_audit_duration("90", "--temp-grace").value() == std::chrono::seconds(90));
    CHECK(parse_audit_duration("90s", "--temp-grace").value() == std::chrono::seconds(90));
    CHECK(parse_audit_duration("30m", "--temp-grace").value() == std::chrono::seconds(1800));
    CHECK(parse_audit_duration("12h", "--temp-grace").value() == std::chrono::seconds(43200));
    CHECK(parse_audit_duration("1d", "--temp-grace").value() == std::chrono::seconds(86400));
    for (const char* bad : {"", "d", "1w", "1.5h", "-1", "99999d"}) {
        INFO(bad);
        CHECK_FALSE(parse_audit_duration(bad, "--temp-grace"));
    }
}

TEST_CASE("audit: a file's slot is its leading 16 hex digits modulo the cycle length", "[audit]") {
    std::string id = "000000000000002a" + std::string(48, 'f');
    CHECK(audit_slot(id, 1) == 0);
    CHECK(audit_slot(id, 30) == 42 % 30);
    CHECK(audit_slot(id, 42) == 0);
    CHECK(audit_slot(id, 43) == 42);
    std::string high(64, 'f');
    CHECK(audit_slot(high, 10000) == static_cast<int>(UINT64_MAX % 10000));
    CHECK(stateless_audit_position(0, 30) == 0);
    CHECK(stateless_audit_position(86400 * 31 + 5, 30) == 1);
}

TEST_CASE("audit: slots of random names fill evenly", "[audit]") {
    std::vector<int> counts(7, 0);
    for (int i = 0; i < 7000; ++i) {
        ++counts[static_cast<std::size_t>(audit_slot(sha256_hex(std::to_string(i)), 7))];
    }
    for (int c : counts) {
        CHECK(c > 800);
        CHECK(c < 1200);
    }
}

TEST_CASE("audit: temporary names of servers, restic, rclone and the toolkit are recognised",
          "[audit]") {
    std::string id(64, 'a');
    CHECK(is_temporary_name("data/aa/" + id + ".rest-server-temp"));
    CHECK(is_temporary_name("data/aa/" + id + "-tmp-123456"));
    CHECK(is_temporary_name("data/aa/" + id + ".restic-replicate-tmp-AbC123"));
    CHECK(is_temporary_name("index/." + id + ".tmp-AbC123"));
    CHECK(is_temporary_name("data/aa/" + id + ".a1b2c3.partial"));
    CHECK(is_temporary_name(".sgwtmp/abcdef.123"));
    CHECK(is_temporary_name(".sgwtmp/multipart/x/y"));
    CHECK(is_temporary_name("data/aa/." + id + ".sgwtmp.1700000000"));
    CHECK_FALSE(is_temporary_name("data/aa/" + id));
    CHECK_FALSE(is_temporary_name("data/00/stray"));
    CHECK_FALSE(is_temporary_name("index/x.tmp-1")); // not hidden: not atomic_write's
    CHECK_FALSE(is_temporary_name("config"));
}

TEST_CASE("audit: the listing has sizes and kinds, is sorted, and follows no symlink", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    std::string pack = repo.add("data", "pack content");
    std::string index = repo.add("index", "index content");
    fs::create_symlink("/etc", dir->path() / "repo" / "snapshots");
    auto entries = list_audit_entries(repo.path());
    REQUIRE(entries);
    REQUIRE(entries->size() == 4);
    CHECK((*entries)[0].relative == "config");
    CHECK((*entries)[0].kind == RepoFileKind::config);
    CHECK((*entries)[1].relative == pack);
    CHECK((*entries)[1].kind == RepoFileKind::pack);
    CHECK((*entries)[1].size == std::string("pack content").size());
    CHECK((*entries)[2].relative == index);
    CHECK((*entries)[3].relative == "snapshots");
    CHECK_FALSE((*entries)[3].regular);
    CHECK((*entries)[3].kind == RepoFileKind::other);
    CHECK_FALSE(list_audit_entries((dir->path() / "missing").string()));
}

TEST_CASE("audit: repository files are opened without following links, regular files only",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    std::string big(3 * (1 << 20) + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>(i * 7919 % 251);
    }
    std::string pack = repo.add("data", big);
    auto hashed = default_hash_function(true)(repo.path(), pack);
    REQUIRE(hashed);
    CHECK(hashed->hex == sha256_hex(big));
    CHECK(hashed->size == big.size());

    // A secret outside the repository, reached through a link as the file or as a directory.
    REQUIRE(atomic_write((dir->path() / "secret").string(), "root's secret", 0600));
    std::string id = sha256_hex("root's secret");
    fs::create_directories(dir->path() / "repo/keys");
    fs::create_symlink(dir->path() / "secret", dir->path() / "repo/keys" / id);
    auto link = open_beneath(repo.path(), "keys/" + id);
    REQUIRE_FALSE(link);
    CHECK(link.error().message().find("keys/" + id) != std::string::npos);
    fs::create_directories(dir->path() / "elsewhere");
    REQUIRE(atomic_write((dir->path() / "elsewhere" / id).string(), "root's secret", 0600));
    fs::create_symlink(dir->path() / "elsewhere", dir->path() / "repo/index");
    CHECK_FALSE(open_beneath(repo.path(), "index/" + id));
    CHECK_FALSE(open_beneath(repo.path(), "../secret"));
    // A FIFO does not block the audit.
    REQUIRE(::mkfifo((dir->path() / "repo/snapshots").c_str(), 0600) == 0);
    auto fifo = open_beneath(repo.path(), "snapshots");
    REQUIRE_FALSE(fifo);
    CHECK(fifo.error().message().find("not a regular file") != std::string::npos);
    // A repository whose own path runs through a link is fine.
    fs::create_symlink(dir->path() / "repo", dir->path() / "repo-link");
    CHECK(open_beneath((dir->path() / "repo-link").string(), pack));
}

TEST_CASE("audit: over N runs with fraction 1/N every file is hashed exactly once", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    for (int i = 0; i < 150; ++i) {
        repo.add("data", fmt::format("pack {}", i));
    }
    for (int i = 0; i < 20; ++i) {
        repo.add("index", fmt::format("index {}", i));
        repo.add("snapshots", fmt::format("snapshot {}", i));
    }
    repo.add("keys", "key");
    repo.add("locks", "lock");
    const int n = 7;
    auto jobs = GENERATE(1, 3);
    Recorder recorder;
    AuditOptions options;
    options.hash = recorder.function();
    options.jobs = jobs;
    auto target = target_for(repo, dir->path() / "state", n);
    std::map<std::string, int> total;
    for (int run = 0; run < n; ++run) {
        auto report = audit(target, options);
        INFO("run " << run);
        CHECK(report.exit_code() == ExitCode::ok);
        CHECK(report.position == run);
        CHECK(report.slot_finished);
        auto hashed = recorder.take();
        CHECK(report.files_checked == hashed.size());
        for (const auto& [path, count] : hashed) {
            CHECK(audit_slot(fs::path(path).filename().string(), n) == run);
            total[path] += count;
        }
        // The cycle is complete, and the coverage recorded, only at the end of the last slot.
        CHECK(report.last_full_coverage.has_value() == (run == n - 1));
    }
    auto all = content_addressed_files(repo);
    CHECK(all.size() == 192);
    CHECK(total.size() == all.size());
    for (const auto& path : all) {
        INFO(path);
        CHECK(total[path] == 1);
    }
    // The next run starts the next cycle at slot 0.
    auto next = audit(target, options);
    CHECK(next.position == 0);
}

TEST_CASE(
    "audit: a file added between runs is hashed within N runs, whether its slot passed or not",
    "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    const int n = 5;
    for (int i = 0; i < 40; ++i) {
        repo.add("data", fmt::format("pack {}", i));
    }
    Recorder recorder;
    AuditOptions options;
    options.hash = recorder.function();
    auto target = target_for(repo, dir->path() / "state", n);
    // Run slots 0, 1 and 2; then add a file to slot 1 (passed) and one to slot 4 (to come).
    for (int run = 0; run < 3; ++run) {
        audit(target, options);
    }
    recorder.take();
    std::string passed = repo.add_in_slot(1, n);
    std::string coming = repo.add_in_slot(4, n);
    std::map<std::string, int> when; // run number after adding in which each was hashed
    for (int run = 1; run <= n; ++run) {
        audit(target, options);
        for (const auto& [path, count] : recorder.take()) {
            if (path == passed || path == coming) {
                when[path] += run * 100 + count; // count must be 1
            }
        }
    }
    CHECK(when[coming] == 2 * 100 + 1); // slot 3 then slot 4
    CHECK(when[passed] == 4 * 100 + 1); // slots 3, 4, 0, then 1
}

TEST_CASE("audit: the findings of a damaged repository name the right files", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    std::string good = repo.add("data", "good pack");
    std::string flipped = repo.add("data", "a pack with one byte flipped");
    std::string truncated = repo.add("index", "an index that loses its tail");
    std::string emptied = repo.add("snapshots", "a snapshot emptied");
    std::string key = repo.add("keys", "a key");
    // Damage them.
    repo.write(flipped, "a pack with one byte flipPed");
    repo.write(truncated, "an index that");
    repo.write(emptied, "");
    // A pack in the wrong data/ directory, one at data/ itself, a stray, temporary files.
    std::string misplaced_id = sha256_hex("a misplaced pack");
    REQUIRE_FALSE(misplaced_id.starts_with("00"));
    std::string misplaced = "data/00/" + misplaced_id;
    repo.write(misplaced, "a misplaced pack");
    std::string loose = "data/" + sha256_hex("a loose pack");
    repo.write(loose, "a loose pack");
    repo.write("data/00/stray", "not restic's");
    std::string young = "data/00/" + std::string(64, '0') + ".rest-server-temp";
    repo.write(young, "an upload in progress");
    std::string old = "index/" + std::string(64, '1') + "-tmp-42";
    repo.write(old, "an abandoned upload");
    fs::last_write_time(repo.file(old), fs::file_time_type::clock::now() - std::chrono::hours(49));
    fs::create_symlink("/etc/passwd", dir->path() / "repo" / "keys" / std::string(64, '2'));

    AuditTarget target;
    target.repository = repo.path();
    target.cycle_length = 1;
    AuditOptions options;
    options.jobs = 2;
    auto report = audit(target, options);
    for (const auto& f : report.findings) {
        UNSCOPED_INFO(f.path << ": " << to_string(f.kind) << ": " << f.message);
    }
    CHECK(report.exit_code() == ExitCode::findings);
    CHECK(find(report, good, FindingKind::hash_mismatch) == nullptr);
    CHECK(find(report, key, FindingKind::hash_mismatch) == nullptr);
    REQUIRE(find(report, flipped, FindingKind::hash_mismatch) != nullptr);
    CHECK(find(report, flipped, FindingKind::hash_mismatch)
              ->message.find(sha256_hex("a pack with one byte flipPed")) != std::string::npos);
    CHECK(find(report, truncated, FindingKind::hash_mismatch) != nullptr);
    CHECK(find(report, emptied, FindingKind::empty) != nullptr);
    CHECK(find(report, emptied, FindingKind::hash_mismatch) == nullptr); // one finding is enough
    REQUIRE(find(report, misplaced, FindingKind::misplaced) != nullptr);
    CHECK(find(report, misplaced, FindingKind::misplaced)
              ->message.find("data/" + misplaced_id.substr(0, 2) + "/") != std::string::npos);
    CHECK(find(report, misplaced, FindingKind::hash_mismatch) == nullptr); // content is fine
    CHECK(find(report, loose, FindingKind::misplaced) != nullptr);
    CHECK(find(report, "data/00/stray", FindingKind::unexpected) != nullptr);
    CHECK(find(report, young, FindingKind::unexpected) == nullptr);
    CHECK(find(report, young, FindingKind::stale_temporary) == nullptr);
    CHECK(report.temporary_files == 1);
    CHECK(find(report, old, FindingKind::stale_temporary) != nullptr);
    CHECK(find(report, "keys/" + std::string(64, '2'), FindingKind::unexpected) != nullptr);
    CHECK(find(report, "config", FindingKind::missing_config) == nullptr);
    CHECK(report.findings.size() == 8);
    // Hashed: good, flipped, truncated, key, misplaced, loose (the empty one is not).
    CHECK(report.files_checked == 6);

    // With a shorter grace period the young temporary file is stale too; without config, the
    // repository says so.
    fs::remove(repo.file("config"));
    options.temporary_grace = std::chrono::seconds(0);
    auto again = audit(target, options);
    CHECK(find(again, young, FindingKind::stale_temporary) != nullptr);
    CHECK(find(again, "config", FindingKind::missing_config) != nullptr);
    CHECK(again.temporary_files == 0);
}

TEST_CASE("audit: an empty config is a finding, an empty directory is no repository yet",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    repo.write("config", "");
    AuditTarget target;
    target.repository = repo.path();
    auto report = audit(target);
    CHECK(find(report, "config", FindingKind::empty) != nullptr);
    CHECK(report.exit_code() == ExitCode::findings);

    fs::create_directories(dir->path() / "fresh");
    target.repository = (dir->path() / "fresh").string();
    auto fresh = audit(target);
    CHECK(fresh.exit_code() == ExitCode::ok);
    CHECK(fresh.findings.empty());
    REQUIRE(fresh.notes.size() == 1);
    CHECK(fresh.notes[0].find("no repository yet") != std::string::npos);
}

TEST_CASE("audit: a file that vanishes between listing and reading is not a finding", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    std::string lock = repo.add("locks", "a lock");
    std::string pack = repo.add("data", "a pack");
    auto entries = list_audit_entries(repo.path());
    REQUIRE(entries);
    auto selected = select_for_audit(*entries, 1, 0, std::nullopt);
    REQUIRE(selected.size() == 2);
    fs::remove(repo.file(lock));
    AuditBudget budget(std::nullopt, std::nullopt);
    auto run =
        hash_selected(repo.path(), *entries, selected, 2, budget, default_hash_function(true));
    REQUIRE(run.done == 2);
    std::map<std::string, HashOutcome> outcomes;
    for (std::size_t i = 0; i < run.done; ++i) {
        outcomes[(*entries)[selected[i]].relative] = run.results[i].outcome;
    }
    CHECK(outcomes[lock] == HashOutcome::vanished);
    CHECK(outcomes[pack] == HashOutcome::match);

    // Through audit_repository: a hash function that removes the file first (as restic
    // removing its lock mid-run would).
    repo.add("locks", "another lock");
    AuditOptions options;
    options.hash = [](const std::string& root, const std::string& relative) {
        if (relative.starts_with("locks/")) {
            fs::remove(fs::path(root) / relative);
        }
        return default_hash_function(false)(root, relative);
    };
    AuditTarget target;
    target.repository = repo.path();
    target.cycle_length = 1;
    auto report = audit(target, options);
    CHECK(report.exit_code() == ExitCode::ok);
    CHECK(report.files_vanished == 1);
    CHECK(report.files_checked == 1);
}

TEST_CASE("audit: a file that cannot be read is an error (111), and the rotation still moves on",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    std::string bad = repo.add("data", "a pack on a bad sector");
    std::string good = repo.add("data", "a pack on a good sector");
    AuditOptions options;
    options.hash = [&](const std::string& root, const std::string& relative) -> Expected<FileHash> {
        if (relative == bad) {
            return fail_errno(EIO, fmt::format("read {}/{}", root, relative));
        }
        return default_hash_function(false)(root, relative);
    };
    auto target = target_for(repo, dir->path() / "state", 1);
    auto report = audit(target, options);
    CHECK(report.exit_code() == ExitCode::temporary);
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].message().find(bad) != std::string::npos);
    CHECK(report.errors[0].message().find("Input/output error") != std::string::npos);
    CHECK(report.files_unreadable == 1);
    CHECK(report.files_checked == 1);
    CHECK(report.slot_finished);
    auto status = read_json_file(report.status_file);
    REQUIRE(status);
    CHECK((*status)["result"] == "error");
    CHECK((*status)["exit_code"] == 111);
    CHECK((*status)["errors"].size() == 1);
}

TEST_CASE("audit: a budget stops a run early and the next run carries on where it stopped",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    const int n = 3;
    std::set<std::string> slot0;
    for (int i = 0; i < 12; ++i) {
        slot0.insert(repo.add_in_slot(0, n));
        repo.add_in_slot(1, n);
    }
    // Every pack in the test is 30-some bytes; a budget of 100 bytes takes 3 files a run (the
    // third does not fit, unless it is the first of the run).
    auto entries = list_audit_entries(repo.path());
    REQUIRE(entries);
    std::uint64_t size = (*entries)[1].size;
    Recorder recorder;
    AuditOptions options;
    options.hash = recorder.function();
    options.jobs = 2;
    auto target = target_for(repo, dir->path() / "state", n);
    std::map<std::string, int> seen;
    int runs = 0;
    std::optional<std::string> last_resume;
    for (;;) {
        AuditBudget budget(3 * size, std::nullopt);
        auto report = audit_repository(target, options, budget);
        ++runs;
        REQUIRE(report.position == 0);
        auto hashed = recorder.take();
        CHECK(report.files_checked == hashed.size());
        CHECK(report.bytes_checked <= 3 * size);
        for (const auto& [path, count] : hashed) {
            seen[path] += count;
        }
        auto state = read_audit_state(report.state_file);
        REQUIRE(state);
        REQUIRE(*state);
        if (report.slot_finished) {
            CHECK((*state)->rotation.position == 1);
            CHECK_FALSE((*state)->rotation.resume_after);
            break;
        }
        CHECK(hashed.size() == 3);
        CHECK(report.files_left == report.files_selected - 3);
        CHECK((*state)->rotation.position == 0);
        REQUIRE((*state)->rotation.resume_after);
        // The files done are exactly those up to the resume point, in name order.
        for (const auto& [path, count] : hashed) {
            CHECK(path <= *(*state)->rotation.resume_after);
            CHECK((!last_resume || path > *last_resume));
        }
        last_resume = (*state)->rotation.resume_after;
        auto status = read_json_file(report.status_file);
        REQUIRE(status);
        CHECK((*status)["files_left"] == report.files_left);
        CHECK((*status)["cycle"]["slot_finished"] == false);
        REQUIRE(runs < 10);
    }
    CHECK(runs == 4);
    CHECK(seen.size() == slot0.size());
    for (const auto& path : slot0) {
        CHECK(seen[path] == 1);
    }
}

TEST_CASE("audit: the first file of a run always starts, so a small budget still makes progress",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    repo.add("data", std::string(5000, 'x'));
    repo.add("data", std::string(5000, 'y'));
    AuditBudget budget(10, std::nullopt);
    CHECK_FALSE(budget.exhausted());
    auto target = target_for(repo, dir->path() / "state", 1);
    auto first = audit_repository(target, {}, budget);
    CHECK(first.files_checked == 1);
    CHECK(first.files_left == 1);
    CHECK(budget.exhausted());
    // A second repository in the same run is not started at all.
    auto skipped = audit_repository(target, {}, budget);
    CHECK(skipped.skipped);
    CHECK(skipped.files_checked == 0);

    AuditBudget timed(std::nullopt, std::chrono::seconds(0));
    CHECK(timed.try_start(1000));
    CHECK_FALSE(timed.try_start(1));
    CHECK(timed.exhausted());
}

TEST_CASE("audit: --all is a pass of its own, carried over by a budget, and sets the coverage",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    for (int i = 0; i < 10; ++i) {
        repo.add("data", fmt::format("pack number {:04}", i));
    }
    auto target = target_for(repo, dir->path() / "state", 5);
    audit(target); // the rotation is at slot 1 now
    AuditOptions options;
    options.all = true;
    Recorder recorder;
    options.hash = recorder.function();
    std::uint64_t size = std::string("pack number 0000").size();
    AuditBudget first_budget(6 * size, std::nullopt);
    auto first = audit_repository(target, options, first_budget);
    CHECK(first.files_checked == 6);
    CHECK_FALSE(first.slot_finished);
    CHECK_FALSE(first.last_full_coverage);
    AuditBudget second_budget(6 * size, std::nullopt);
    auto second = audit_repository(target, options, second_budget);
    CHECK(second.files_checked == 4);
    CHECK(second.slot_finished);
    REQUIRE(second.last_full_coverage);
    CHECK(second.last_full_coverage->started == first.started);
    CHECK(second.last_full_coverage->finished == second.finished);
    auto hashed = recorder.take();
    CHECK(hashed.size() == 10);
    auto state = read_audit_state(second.state_file);
    REQUIRE(state);
    REQUIRE(*state);
    CHECK((*state)->rotation.position == 1); // untouched by --all
    CHECK_FALSE((*state)->full);
    auto status = read_json_file(second.status_file);
    REQUIRE(status);
    CHECK((*status)["mode"] == "all");
    CHECK((*status)["last_full_coverage"]["finished"] == second.finished);
}

TEST_CASE("audit: without a state directory the slot follows the day and nothing is written",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    for (int i = 0; i < 20; ++i) {
        repo.add("data", fmt::format("pack {}", i));
    }
    AuditTarget target;
    target.repository = repo.path();
    target.cycle_length = 4;
    AuditOptions options;
    Recorder recorder;
    options.hash = recorder.function();
    std::map<std::string, int> total;
    for (int day = 0; day < 4; ++day) {
        options.now = 1'700'000'000 + day * 86400;
        auto report = audit(target, options);
        CHECK(report.position == stateless_audit_position(*options.now, 4));
        CHECK(report.status_file.empty());
        for (const auto& [path, count] : recorder.take()) {
            total[path] += count;
        }
    }
    CHECK(total.size() == 20);
    CHECK(std::distance(fs::directory_iterator(dir->path()), fs::directory_iterator()) == 1);
}

TEST_CASE("audit: a new fraction starts a new cycle at slot 0", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    repo.add("data", "pack");
    auto target = target_for(repo, dir->path() / "state", 5);
    audit(target);
    audit(target);
    CHECK(audit(target).position == 2);
    target.cycle_length = 7;
    auto changed = audit(target);
    CHECK(changed.position == 0);
    CHECK(changed.cycle_length == 7);
    REQUIRE(changed.notes.size() == 1);
    CHECK(changed.notes[0].find("1/5 to 1/7") != std::string::npos);
}

TEST_CASE("audit: the state file round-trips and is read strictly", "[audit]") {
    AuditState s;
    s.repository = "/srv/repo";
    s.rotation = {30, 4, std::string("data/ab/abc"), std::string("2024-01-01T00:00:00Z")};
    s.full = AuditFullPass{"2024-01-02T00:00:00Z", "index/x"};
    s.last_full_coverage = AuditCoverage{"2023-12-01T00:00:00Z", "2023-12-31T00:00:00Z"};
    s.last_run = "2024-01-02T01:00:00Z";
    auto json = audit_state_to_json(s);
    CHECK(json["schema"] == k_audit_state_schema);
    auto back = audit_state_from_json(json, "state");
    REQUIRE(back);
    CHECK(back->rotation.position == 4);
    CHECK(back->rotation.resume_after == std::optional<std::string>("data/ab/abc"));
    CHECK(back->full->resume_after == "index/x");
    CHECK(back->last_full_coverage->finished == "2023-12-31T00:00:00Z");
    CHECK(audit_state_to_json(*back) == json);

    auto bad = json;
    bad["schema"] = 2;
    CHECK_FALSE(audit_state_from_json(bad, "state"));
    bad = json;
    bad["rotation"]["position"] = 30;
    CHECK_FALSE(audit_state_from_json(bad, "state"));
    bad = json;
    bad["rotation"].erase("cycle_started");
    bad["last_run"] = 5;
    auto two = audit_state_from_json(bad, "state");
    REQUIRE_FALSE(two);
    CHECK(two.error().code() == ExitCode::permanent);
    CHECK(two.error().more().size() == 1); // both problems reported
}

TEST_CASE("audit: an unreadable state file stops the audit of that repository, untouched",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    repo.add("data", "pack");
    auto target = target_for(repo, dir->path() / "state", 3);
    fs::create_directories(dir->path() / "state");
    std::string state_path = (dir->path() / "state" / "audit-test.state.json").string();
    REQUIRE(atomic_write(state_path, "{\"schema\": 99}", 0644));
    auto report = audit(target);
    CHECK(report.exit_code() == ExitCode::permanent);
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].message().find("remove " + state_path) != std::string::npos);
    CHECK(read_file(state_path).value() == "{\"schema\": 99}");
}

TEST_CASE("audit: two runs on one repository never overlap", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    Repo repo(dir->path() / "repo");
    repo.add("data", "pack");
    auto target = target_for(repo, dir->path() / "state", 3);
    fs::create_directories(dir->path() / "state");
    auto held =
        open_fd((dir->path() / "state" / "audit-test.lock").string(), O_RDWR | O_CREAT, 0644);
    REQUIRE(held);
    REQUIRE(::flock(held->get(), LOCK_EX | LOCK_NB) == 0);
    auto report = audit(target);
    CHECK(report.exit_code() == ExitCode::temporary);
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].message().find("another restic-audit") != std::string::npos);
    CHECK_FALSE(fs::exists(dir->path() / "state" / "audit-test.state.json"));
    held->reset();
    CHECK(audit(target).exit_code() == ExitCode::ok);
}

TEST_CASE("audit: a missing repository: a note for a new client, an error otherwise", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    AuditTarget target;
    target.repository = (dir->path() / "missing").string();
    target.client = "web1";
    target.label = "repository";
    target.state_dir = dir->path() / "state";
    target.missing_ok = true;
    auto fresh = audit(target);
    CHECK(fresh.exit_code() == ExitCode::ok);
    REQUIRE(fresh.notes.size() == 1);
    CHECK(fresh.notes[0].find("no repository yet") != std::string::npos);

    // Once audited, a repository that disappears is an error.
    Repo repo(dir->path() / "missing");
    CHECK(audit(target).exit_code() == ExitCode::ok);
    fs::remove_all(dir->path() / "missing");
    CHECK(audit(target).exit_code() == ExitCode::temporary);

    // A path on the command line that is not a directory is bad input.
    AuditTarget path;
    path.repository = (dir->path() / "nowhere").string();
    auto bad = audit(path);
    CHECK(bad.exit_code() == ExitCode::permanent);
    REQUIRE(bad.errors.size() == 1);
    CHECK(bad.errors[0].message().find("nowhere") != std::string::npos);
}

TEST_CASE("audit: a client's targets are its repository and local destinations", "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    auto add_client = [&](const std::string& host, int fraction) {
        ClientConfig c;
        c.host = host;
        c.address = "backup.example.com";
        c.port = 8100;
        c.user = host;
        c.bucket = host;
        c.repository = dir->path() / "systems" / host / "data" / host;
        c.owner_user = "restic";
        c.owner_group = "restic";
        c.destinations = {{"disk2", dir->path() / "disk2" / host, ""},
                          {"b2", "", "b2:bucket/" + host}};
        c.audit_fraction = fraction;
        auto paths = layout.client(host);
        fs::create_directories(paths.conf);
        REQUIRE(atomic_write(paths.config_file.string(), render_client_config(c), 0644));
    };
    add_client("web1", 7);
    add_client("db1", 9);
    fs::create_directories(dir->path() / "systems" / "conf" / "runit");

    AuditRequest request;
    request.root = dir->path();
    request.client = "web1";
    auto one = resolve_audit_targets(request);
    REQUIRE(one);
    REQUIRE(one->targets.size() == 2);
    CHECK(one->targets[0].repository == (dir->path() / "systems/web1/data/web1").string());
    CHECK(one->targets[0].label == "repository");
    CHECK(one->targets[0].cycle_length == 7);
    CHECK(one->targets[0].state_dir == layout.client("web1").state);
    CHECK(one->targets[1].repository == (dir->path() / "disk2/web1").string());
    CHECK(one->targets[1].label == "destination-disk2");
    REQUIRE(one->notes.size() == 1);
    CHECK(one->notes[0].find("b2:bucket/web1") != std::string::npos);

    request.client.clear();
    request.fraction = 3;
    auto every = resolve_audit_targets(request);
    REQUIRE(every);
    REQUIRE(every->targets.size() == 4);
    CHECK(every->targets[0].client == "db1");
    CHECK(every->targets[2].client == "web1");
    CHECK(every->targets[0].cycle_length == 3);

    request.client = "nosuch";
    auto unknown = resolve_audit_targets(request);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code() == ExitCode::permanent);
    request.client = "../etc";
    CHECK_FALSE(resolve_audit_targets(request));

    request.client.clear();
    request.paths = {(dir->path() / "a" / "repo").string() + "/",
                     (dir->path() / "a/repo").string()};
    auto paths = resolve_audit_targets(request);
    REQUIRE(paths);
    REQUIRE(paths->targets.size() == 1);
    CHECK(paths->targets[0].repository == (dir->path() / "a/repo").string());
    CHECK(paths->targets[0].label.starts_with("path-repo-"));
    CHECK(paths->targets[0].label.size() == std::string("path-repo-").size() + 12);
    CHECK_FALSE(paths->targets[0].state_dir);
}

TEST_CASE("audit: after a store failure no further file starts, and the run resumes there",
          "[audit]") {
    std::vector<AuditEntry> entries;
    for (char c : std::string("0123456789")) {
        AuditEntry e;
        e.relative = fmt::format("snapshots/{}", std::string(64, c));
        e.kind = classify_repository_path(e.relative);
        e.size = 10;
        entries.push_back(e);
    }
    auto selected = select_for_audit(entries, 1, 0, std::nullopt);
    REQUIRE(selected.size() == 10);
    AuditBudget budget(std::nullopt, std::nullopt);
    std::mutex mutex;
    std::size_t calls = 0;
    auto run = hash_selected(entries, selected, 1, budget, [&](const AuditEntry& entry) {
        std::lock_guard lock(mutex);
        ++calls;
        HashResult r;
        if (entry.relative.ends_with("3333")) {
            r.outcome = HashOutcome::unavailable;
            r.error = Error(ExitCode::temporary, "unable to read it: HTTP 500");
        }
        return r;
    });
    CHECK(calls == 4); // 0, 1, 2 and the failing 3: nothing after it
    REQUIRE(run.done == 4);
    CHECK(run.results[3].outcome == HashOutcome::unavailable);
    CHECK(run.results[2].outcome == HashOutcome::match);
}

TEST_CASE("audit: a remote primary is a target read over rclone with the client's rclone.conf",
          "[audit]") {
    auto dir = TempDir::create_in_tmp("unit-audit");
    REQUIRE(dir);
    ServerLayout layout(dir->path());
    ClientConfig c;
    c.host = "web1";
    c.remote_repository = "store:backups/web1";
    c.destinations = {{"disk2", dir->path() / "disk2/web1", ""}};
    auto paths = layout.client("web1");
    fs::create_directories(paths.conf);
    REQUIRE(atomic_write(paths.config_file.string(), render_client_config(c), 0644));

    AuditRequest request;
    request.root = dir->path();
    request.client = "web1";
    auto resolved = resolve_audit_targets(request);
    REQUIRE(resolved);
    REQUIRE(resolved->targets.size() == 2);
    const auto& primary = resolved->targets[0];
    CHECK(primary.repository == "store:backups/web1");
    CHECK(primary.label == "repository");
    REQUIRE(primary.remote);
    CHECK(primary.remote->remote == "store:backups/web1");
    CHECK(primary.remote->rclone_config == (paths.secrets / "rclone.conf").string());
    CHECK(primary.state_dir == paths.state);
    CHECK_FALSE(resolved->targets[1].remote); // a local destination stays a directory
    CHECK(resolved->notes.empty());

    // Without its rclone.conf the audit says which file is missing (100), reading nothing.
    AuditBudget budget(std::nullopt, std::nullopt);
    auto report = audit_repository(primary, AuditOptions{}, budget);
    CHECK(report.exit_code() == ExitCode::permanent);
    REQUIRE(report.errors.size() == 1);
    CHECK(report.errors[0].message().find("secrets/rclone.conf") != std::string::npos);
}
