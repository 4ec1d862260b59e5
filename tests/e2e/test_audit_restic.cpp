// restic-audit against repositories written by a real restic: clean with --all, every kind of
// damage found and named, the rotation over N runs of the real binary, a client's repository and
// replicas found through its client.yaml, a budget carried over between runs.
#include <catch2/catch.hpp>

#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "audit/audit.hpp"
#include "audit/command.hpp"
#include "model/config.hpp"
#include "model/layout.hpp"
#include "model/repository.hpp"
#include "support/fixtures.hpp"
#include "support/repository_files.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;

namespace {

std::string audit_binary() {
    return tools_dir() + "/restic-audit";
}

ProcessResult run_audit(std::vector<std::string> args) {
    args.insert(args.begin(), audit_binary());
    return run_cmd(std::move(args), base_environment());
}

// A local repository written by restic: init, then one backup of the sample tree per round,
// each round changing a file so that every backup adds packs, an index and a snapshot.
fs::path make_repository(const fs::path& dir, int rounds = 1) {
    fs::path repo = dir / "repo";
    auto client = make_restic_client(dir / "client", repo.string());
    client.run({"init"});
    fs::path source = dir / "source";
    make_sample_tree(source);
    for (int round = 0; round < rounds; ++round) {
        REQUIRE(util::atomic_write((source / fmt::format("round-{}.txt", round)).string(),
                                   fmt::format("round {}\n", round), 0644));
        client.run({"backup", source.string()});
    }
    return repo;
}

// The content-addressed files of repo, relative.
std::vector<std::string> hashed_files(const fs::path& repo) {
    auto files = test::list_repository_files(repo.string());
    REQUIRE(files);
    std::vector<std::string> out;
    for (const auto& f : *files) {
        if (core::is_content_addressed(f.kind)) {
            out.push_back(f.relative);
        }
    }
    return out;
}

std::string first_of(const fs::path& repo, const std::string& dir) {
    for (const auto& f : hashed_files(repo)) {
        if (f.starts_with(dir + "/")) {
            return f;
        }
    }
    FAIL("no file in " << dir << "/ of " << repo.string());
    return {};
}

// The status file restic-audit wrote for the one PATH audited with this state dir.
util::Json path_status(const fs::path& state_dir) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(state_dir)) {
        std::string name = e.path().filename().string();
        if (name.starts_with("audit-path-") && name.ends_with(".json") &&
            !name.ends_with(".state.json")) {
            found.push_back(e.path());
        }
    }
    REQUIRE(found.size() == 1);
    auto json = util::read_json_file(found[0].string());
    REQUIRE(json);
    return *json;
}

void make_writable(const fs::path& file) {
    // restic makes its files read-only.
    fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

} // namespace

TEST_CASE("audit: a repository written by restic audits clean with --all", "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path repo = make_repository(dir->path(), 2);
        fs::path state = dir->path() / "state";
        auto r = run_audit({"--all", "--state-dir", state.string(), repo.string()});
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 0);
        CHECK(r.err.empty());
        CHECK(r.out.find(repo.string() + ": full pass: ") != std::string::npos);
        auto status = path_status(state);
        CHECK(status["schema"] == core::k_audit_status_schema);
        CHECK(status["result"] == "clean");
        CHECK(status["exit_code"] == 0);
        CHECK(status["mode"] == "all");
        CHECK(status["findings"].empty());
        auto files = hashed_files(repo);
        CHECK(files.size() >= 8); // a key, packs, two indexes, two snapshots
        CHECK(status["files_checked"] == files.size());
        std::uint64_t bytes = 0;
        for (const auto& f : files) {
            bytes += fs::file_size(repo / f);
        }
        CHECK(status["bytes_checked"] == bytes);
        CHECK(bytes > 3 * 1024 * 1024); // the sample tree's random file is in a pack
        CHECK(status["last_full_coverage"]["finished"] == status["finished"]);

        // restic agrees the repository is sound after the audit read it.
        auto client = make_restic_client(dir->path() / "client2", repo.string());
        client.env["RESTIC_PASSWORD_FILE"] = (dir->path() / "client" / "repo-password").string();
        client.run({"check", "--read-data"});
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: damage to a restic repository is found and the file named", "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path repo = make_repository(dir->path());
        std::string damaged;
        std::string what;
        SECTION("one byte flipped in a pack") {
            damaged = first_of(repo, "data");
            make_writable(repo / damaged);
            auto content = util::read_file((repo / damaged).string());
            REQUIRE(content);
            REQUIRE(content->size() > 100);
            (*content)[content->size() / 2] ^= 0x01;
            REQUIRE(util::atomic_write((repo / damaged).string(), *content, 0400));
            what = "hashes to";
        }
        SECTION("an index file truncated") {
            damaged = first_of(repo, "index");
            make_writable(repo / damaged);
            fs::resize_file(repo / damaged, fs::file_size(repo / damaged) / 2);
            what = "hashes to";
        }
        SECTION("a snapshot file of zero length") {
            damaged = first_of(repo, "snapshots");
            make_writable(repo / damaged);
            fs::resize_file(repo / damaged, 0);
            what = "empty file";
        }
        SECTION("a stray file in data/00/") {
            damaged = "data/00/stray";
            REQUIRE(util::atomic_write((repo / damaged).string(), "not restic's\n", 0644));
            what = "not a repository file";
        }
        fs::path state = dir->path() / "state";
        auto r = run_audit({"--all", "--quiet", "--state-dir", state.string(), repo.string()});
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 1);
        CHECK(r.out.empty()); // --quiet
        auto lines = lines_of(r.err);
        REQUIRE(lines.size() == 1);
        CHECK(lines[0].starts_with(fmt::format("restic-audit: {}: {}: ", repo.string(), damaged)));
        CHECK(lines[0].find(what) != std::string::npos);
        auto status = path_status(state);
        CHECK(status["result"] == "findings");
        REQUIRE(status["findings"].size() == 1);
        CHECK(status["findings"][0]["path"] == damaged);
        // The other files were all hashed and found sound.
        CHECK(status["files_checked"] >= hashed_files(repo).size() - 1);
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: an empty file or a stray is found on every run, not only in its slot",
          "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path repo = make_repository(dir->path());
        std::string snapshot = first_of(repo, "snapshots");
        make_writable(repo / snapshot);
        fs::resize_file(repo / snapshot, 0);
        REQUIRE(util::atomic_write((repo / "data/00/stray").string(), "x", 0644));
        // A young upload of rest-server is not a finding.
        REQUIRE(util::atomic_write(
            (repo / "data/00" / (std::string(64, '0') + ".rest-server-temp")).string(), "x", 0644));
        auto r = run_audit({"--fraction", "1/1000", repo.string()});
        INFO(r.out << r.err);
        CHECK(r.exit_code() == 1);
        auto lines = lines_of(r.err);
        REQUIRE(lines.size() == 2);
        CHECK(lines[0] == fmt::format("restic-audit: {}: data/00/stray: not a repository file "
                                      "(a regular file)",
                                      repo.string()));
        CHECK(lines[1] ==
              fmt::format("restic-audit: {}: {}: empty file (0 bytes)", repo.string(), snapshot));
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: over N runs of the binary every file of a restic repository is hashed once",
          "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path repo = make_repository(dir->path(), 4);
        auto files = hashed_files(repo);
        const int n = 4;
        fs::path state = dir->path() / "state";
        std::size_t total = 0;
        for (int run = 0; run < n; ++run) {
            auto r = run_audit({"--fraction", fmt::format("1/{}", n), "--jobs", "2", "--state-dir",
                                state.string(), repo.string()});
            INFO("run " << run << "\n" << r.out << r.err);
            CHECK(r.exit_code() == 0);
            auto status = path_status(state);
            CHECK(status["cycle"]["position"] == run);
            CHECK(status["cycle"]["length"] == n);
            CHECK(status["cycle"]["slot_finished"] == true);
            CHECK(status["cycle"]["next_position"] == (run + 1) % n);
            std::size_t in_slot = 0;
            for (const auto& f : files) {
                if (core::audit_slot(fs::path(f).filename().string(), n) == run) {
                    ++in_slot;
                }
            }
            CHECK(status["files_checked"] == in_slot);
            total += status["files_checked"].get<std::size_t>();
            CHECK(status["last_full_coverage"].is_null() == (run < n - 1));
        }
        CHECK(total == files.size());
        CHECK(files.size() >= 14);
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: a client's repository and local replica are audited from its client.yaml",
          "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path repo = make_repository(dir->path());
        fs::path replica = dir->path() / "replica";
        fs::copy(repo, replica, fs::copy_options::recursive);
        std::string pack = first_of(replica, "data");
        make_writable(replica / pack);
        fs::resize_file(replica / pack, 10);

        fs::path root = dir->path() / "backups";
        core::ServerLayout layout(root);
        core::ClientConfig c;
        c.host = "web1";
        c.address = "127.0.0.1";
        c.port = 8100;
        c.user = "web1";
        c.bucket = "web1";
        c.repository = repo;
        c.owner_user = "restic";
        c.owner_group = "restic";
        c.destinations = {{"disk2", replica, ""}, {"offsite", "", "b2:bucket/web1"}};
        c.audit_fraction = 1;
        auto paths = layout.client("web1");
        fs::create_directories(paths.conf);
        fs::create_directories(paths.state);
        REQUIRE(
            util::atomic_write(paths.config_file.string(), core::render_client_config(c), 0644));

        SECTION("by name") {
            auto r = run_audit({"--root", root.string(), "--client", "web1"});
            INFO(r.out << r.err);
            CHECK(r.exit_code() == 1);
            CHECK(r.out.find("destination offsite (b2:bucket/web1) not audited") !=
                  std::string::npos);
            auto lines = lines_of(r.err);
            REQUIRE(lines.size() == 1);
            CHECK(lines[0].starts_with(
                fmt::format("restic-audit: {}: {}: ", replica.string(), pack)));
        }
        SECTION("every client under the root") {
            auto r = run_audit({"--root", root.string(), "--quiet"});
            INFO(r.out << r.err);
            CHECK(r.exit_code() == 1);
            CHECK(r.out.empty());
            CHECK(lines_of(r.err).size() == 1);
        }
        auto main_status = util::read_json_file((paths.state / "audit-repository.json").string());
        REQUIRE(main_status);
        CHECK((*main_status)["result"] == "clean");
        CHECK((*main_status)["client"] == "web1");
        CHECK((*main_status)["files_checked"] == hashed_files(repo).size());
        auto replica_status =
            util::read_json_file((paths.state / "audit-destination-disk2.json").string());
        REQUIRE(replica_status);
        CHECK((*replica_status)["result"] == "findings");
        CHECK((*replica_status)["findings"][0]["path"] == pack);
        CHECK(fs::exists(paths.state / "audit-repository.state.json"));
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: bad arguments exit 100, --help explains and exits 0", "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        auto help = run_audit({"--help"});
        CHECK(help.exit_code() == 0);
        for (const char* text : {"--fraction", "--all", "--max-bytes", "--max-seconds", "--jobs",
                                 "--state-dir", "Exit status", "111", "last_full_coverage"}) {
            CHECK(help.out.find(text) != std::string::npos);
        }
        auto fraction = run_audit({"--fraction", "3/7", dir->str()});
        CHECK(fraction.exit_code() == 100);
        CHECK(fraction.err.find("restic-audit: error: unable to use --fraction '3/7'") !=
              std::string::npos);
        auto both = run_audit({"--client", "web1", dir->str()});
        CHECK(both.exit_code() == 100);
        auto state_dir = run_audit({"--state-dir", dir->str(), "--client", "web1"});
        CHECK(state_dir.exit_code() == 100);
        auto missing = run_audit({(dir->path() / "missing").string()});
        CHECK(missing.exit_code() == 100);
        CHECK(missing.err.find("missing: No such file or directory") != std::string::npos);
        auto no_client = run_audit({"--root", dir->str(), "--client", "web1"});
        CHECK(no_client.exit_code() == 100);
    }
    require_no_processes(dir->path());
}

TEST_CASE("audit: a budget carries the rest over, and the longest waiting repository goes first",
          "[audit][e2e]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit");
    REQUIRE(dir);
    {
        fs::path a = make_repository(dir->path());
        fs::path b = dir->path() / "repo-b";
        fs::copy(a, b, fs::copy_options::recursive);
        std::size_t total = hashed_files(a).size();
        fs::path state = dir->path() / "state";
        auto status_of = [&](const fs::path& repo) -> util::Json {
            auto file = state / fmt::format("audit-{}.json", core::audit_label_for_path(repo));
            return fs::exists(file) ? util::read_json_file(file.string()).value() : nullptr;
        };
        // One file per run (the first file of a run always starts): 2 * total runs, taking
        // turns, audit both repositories completely.
        std::map<std::string, std::size_t> checked;
        std::string order;
        util::Json last_a = nullptr;
        util::Json last_b = nullptr;
        for (std::size_t run = 0; run < 2 * total; ++run) {
            auto r = run_audit({"--all", "--max-bytes", "1", "--state-dir", state.string(),
                                a.string(), b.string()});
            INFO("run " << run << "\n" << r.out << r.err);
            REQUIRE(r.exit_code() == 0);
            CHECK(r.out.find("not audited: the run's budget was spent") != std::string::npos);
            util::Json now_a = status_of(a);
            util::Json now_b = status_of(b);
            REQUIRE(((now_a != last_a) != (now_b != last_b))); // exactly one was audited
            const util::Json& audited = now_a != last_a ? now_a : now_b;
            order += now_a != last_a ? "a" : "b";
            CHECK(audited["files_checked"] == 1);
            checked[audited["repository"].get<std::string>()] += 1;
            bool done = checked[audited["repository"].get<std::string>()] == total;
            CHECK(audited["cycle"]["slot_finished"] == done);
            CHECK(audited["files_left"] == total - checked[audited["repository"]]);
            CHECK(audited["last_full_coverage"].is_null() == !done);
            last_a = now_a;
            last_b = now_b;
        }
        std::string expected;
        for (std::size_t i = 0; i < total; ++i) {
            expected += "ab";
        }
        CHECK(order == expected);
        CHECK(checked[a.string()] == total);
        CHECK(checked[b.string()] == total);
    }
    require_no_processes(dir->path());
}
