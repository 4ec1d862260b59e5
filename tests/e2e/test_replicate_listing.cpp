// restic-replicate reads only the pack directories of a local source that changed since its last
// run (state/source_listing.hpp). With real restic and a local destination: a run after a backup
// reads the directories the backup wrote to and copies their new packs; packs a prune removed are
// seen gone and deleted keep_deleted later; a remembered stamp as recent as the listing that
// recorded it (a change in the same second as the listing) is read again, never trusted. The
// replica passes restic check after every step.
#include "replicate/command.hpp"
#include "state/source_listing.hpp"
#include "support/fixtures.hpp"
#include "support/replicate_runs.hpp"
#include "support/repository_files.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <regex>
#include <set>
#include <sys/stat.h>

using namespace backup;
using namespace backup::test;

namespace {

constexpr std::int64_t k_second = 1'000'000'000;
constexpr std::int64_t k_first_run = 1'800'000'000;

std::set<std::string> repository_files(const fs::path& dir) {
    auto listed = test::list_repository_files(dir.string());
    REQUIRE(listed);
    std::set<std::string> files;
    for (const auto& f : *listed) {
        if (f.kind != core::RepoFileKind::lock) {
            files.insert(f.relative);
        }
    }
    return files;
}

// The pack directories a run read and took from memory, from its log line.
std::pair<int, int> directories_read(const ProcessResult& run) {
    std::smatch m;
    static const std::regex k_line("read (\\d+) pack directories, (\\d+) unchanged");
    REQUIRE(std::regex_search(run.out, m, k_line));
    return {std::stoi(m[1]), std::stoi(m[2])};
}

// The pack directories ("data/3f") of the files in after that are not in before.
std::set<std::string> new_pack_directories(const std::set<std::string>& before,
                                           const std::set<std::string>& after) {
    std::set<std::string> dirs;
    for (const auto& file : after) {
        if (file.starts_with("data/") && !before.contains(file)) {
            dirs.insert(file.substr(0, 7));
        }
    }
    return dirs;
}

core::SourceListing read_memory(const fs::path& state) {
    auto listing = core::read_source_listing(core::source_listing_path(state.string()));
    REQUIRE(listing);
    REQUIRE(*listing);
    return std::move(**listing);
}

void write_memory(const fs::path& state, const core::SourceListing& listing) {
    REQUIRE(core::write_source_listing(core::source_listing_path(state.string()), listing));
}

// The memory as a run an hour after the last one would find it: the stamps it recorded long
// settled (the test cannot wait for them to age, nor set a status-change time back).
void age_memory(const fs::path& state) {
    auto listing = read_memory(state);
    listing.listed_ns += 3600 * k_second;
    write_memory(state, listing);
}

struct Stamp {
    core::DirectoryStamp stamp;
    std::int64_t newest_ns = 0;
};

Stamp stamp_of(const fs::path& dir) {
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    core::DirectoryStamp stamp{static_cast<std::uint64_t>(st.st_ino),
                               st.st_mtim.tv_sec * k_second + st.st_mtim.tv_nsec,
                               st.st_ctim.tv_sec * k_second + st.st_ctim.tv_nsec};
    return {stamp, std::max(stamp.mtime_ns, stamp.ctime_ns)};
}

} // namespace

TEST_CASE("replicate: a run reads only the pack directories that changed and misses nothing",
          "[replicate]") {
    auto dir = util::TempDir::create_in_tmp("e2e-replicate-listing");
    REQUIRE(dir);
    {
        fs::path repository = dir->path() / "primary";
        fs::path dest = dir->path() / "replica";
        fs::path state = dir->path() / "state";
        fs::path source = dir->path() / "source";
        fs::create_directories(dest);
        auto client = make_restic_client(dir->path() / "client", repository.string());
        auto replica = client_at(client, dest.string(), dir->path() / "replica-cache");
        client.run({"init"});
        Environment env = base_environment();
        std::string name =
            util::value_or_throw(core::parse_destination_argument(dest.string())).name;
        // exact: the replica holds the source's files and no more (nothing pending deletion).
        auto replicate = [&](std::int64_t now, bool exact = true) {
            auto run = run_replicate({"--state-dir", state.string(), "--keep-deleted", "1d",
                                      "--confirm-deletions", name, "--now", std::to_string(now),
                                      repository.string(), dest.string()},
                                     env);
            INFO(run.out << run.err);
            REQUIRE(run.exit_code() == 0);
            auto held = repository_files(dest);
            if (exact) {
                CHECK(held == repository_files(repository));
            } else {
                CHECK(std::ranges::includes(held, repository_files(repository)));
            }
            replica.run({"check", "--read-data"});
            return run;
        };
        auto backup = [&](const std::string& prefix) {
            add_random_files(source / prefix, prefix, 8, 3000);
            client.run({"backup", "--host", "web1", source.string()});
        };
        for (const auto& prefix : {"a", "b", "c", "d"}) {
            backup(prefix);
        }

        // The first run reads every directory and remembers them.
        auto first = replicate(k_first_run);
        auto [read, reused] = directories_read(first);
        CHECK(read > 0);
        CHECK(reused == 0);
        int directories = read;

        // Nothing changed: nothing is read.
        age_memory(state);
        auto [read2, reused2] = directories_read(replicate(k_first_run + 1));
        CHECK(read2 == 0);
        CHECK(reused2 == directories);

        // A backup adds packs to some directories: exactly those are read, and copied from.
        auto before = repository_files(repository);
        backup("e");
        auto added = new_pack_directories(before, repository_files(repository));
        REQUIRE_FALSE(added.empty());
        auto [read3, reused3] = directories_read(replicate(k_first_run + 2));
        CHECK(read3 == static_cast<int>(added.size()));
        directories = read3 + reused3;

        // A racy stamp: the memory claims a listing in the same second as the last change of
        // the directories another backup writes to, with their current stamps but without the
        // new packs (what a listing whose stat fell in the same timestamp granule as the packs'
        // arrival would have recorded). Those directories are read again all the same.
        age_memory(state);
        before = repository_files(repository);
        backup("f");
        auto files = repository_files(repository);
        added = new_pack_directories(before, files);
        REQUIRE_FALSE(added.empty());
        auto memory = read_memory(state);
        std::int64_t newest = 0;
        std::vector<std::string> ids;
        std::size_t next = 0;
        std::vector<core::ListedDirectory> listed;
        for (auto& d : memory.directories) {
            for (std::size_t i = 0; i < d.count; ++i) {
                ids.push_back(memory.ids[next++]);
            }
            if (added.contains("data/" + d.name)) {
                auto now = stamp_of(repository / "data" / d.name);
                d.stamp = now.stamp;
                newest = std::max(newest, now.newest_ns);
            }
            listed.push_back(d);
        }
        for (const auto& d : added) { // directories the backup created: recorded empty
            std::string sub = d.substr(5);
            if (std::ranges::none_of(listed, [&](const auto& l) { return l.name == sub; })) {
                auto now = stamp_of(repository / d);
                listed.push_back({sub, now.stamp, 0, 0});
                newest = std::max(newest, now.newest_ns);
            }
        }
        std::ranges::sort(listed, {}, &core::ListedDirectory::name);
        memory.directories = listed;
        memory.ids = ids;
        memory.listed_ns = newest + k_second / 2;
        write_memory(state, memory);
        auto [read4, reused4] = directories_read(replicate(k_first_run + 3)); // checks every file
        CHECK(read4 >= static_cast<int>(added.size()));
        CHECK(read4 + reused4 == static_cast<int>(listed.size()));

        // A prune removes packs: their directories are read, the packs seen gone and deleted
        // from the replica a day later (replicate checks the replica holds just the source's).
        age_memory(state);
        fs::remove_all(source / "a");
        fs::remove_all(source / "b");
        backup("g");
        before = repository_files(repository);
        client.run({"forget", "--prune", "--keep-last", "1"});
        auto pruned = new_pack_directories(repository_files(repository), before);
        REQUIRE_FALSE(pruned.empty());
        auto seen = replicate(k_first_run + 4, false);
        CHECK(directories_read(seen).first >= static_cast<int>(pruned.size()));
        CHECK(repository_files(dest) != repository_files(repository)); // kept for a day
        replicate(k_first_run + 4 +
                  2 * 86400); // deleted: the replica holds the source's files only
    }
    require_no_processes(dir->path());
}
