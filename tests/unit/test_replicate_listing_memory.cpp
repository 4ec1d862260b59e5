// restic-replicate's memory of a local source's pack directories (state/source_listing.hpp):
// the file's format, the racy-stamp rule, and a listing that reads only what changed and never
// takes a changed, racy or foreign directory from memory.
#include "replicate/source.hpp"
#include "state/source_listing.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>

using namespace backup;
using namespace backup::core;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_second = 1'000'000'000;

// A pack file of the repository at root, named by its content; its id.
std::string add_pack(const fs::path& root, const std::string& content) {
    std::string id = util::sha256_hex(content);
    fs::path path = root / replica_path(ReplicatePhase::data, id);
    fs::create_directories(path.parent_path());
    REQUIRE(util::atomic_write(path.string(), content, 0600));
    return id;
}

DirectoryStamp directory_stamp(const fs::path& dir) {
    struct stat st {};
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    return DirectoryStamp{static_cast<std::uint64_t>(st.st_ino),
                          st.st_mtim.tv_sec * k_second + st.st_mtim.tv_nsec,
                          st.st_ctim.tv_sec * k_second + st.st_ctim.tv_nsec};
}

const std::vector<std::string>& packs(const SourceRepository& repo) {
    return repo.ids[phase_index(ReplicatePhase::data)];
}

// A listing of root whose memory says `previous` (the listing's ids put back as the file would
// hold them).
SourceRepository list_with(const fs::path& root, std::optional<SourceListing> previous,
                           ListingMemory& memory) {
    memory.previous = std::move(previous);
    auto repo = list_source_repository(root.string(), &memory);
    REQUIRE(repo);
    memory.next.ids = packs(*repo);
    return std::move(*repo);
}

// The listing as a run long after this one would see it: every stamp old enough to be trusted.
SourceListing aged(SourceListing listing) {
    listing.listed_ns += 3600 * k_second;
    return listing;
}

} // namespace

TEST_CASE("listing memory: a stamp is trusted only when equal and older than the listing") {
    DirectoryStamp stamp{42, 100 * k_second, 100 * k_second + 5};
    std::int64_t listed = 200 * k_second;
    CHECK(stamp_trusted(stamp, stamp, listed));
    DirectoryStamp changed = stamp;
    changed.mtime_ns += 1;
    CHECK_FALSE(stamp_trusted(stamp, changed, listed));
    changed = stamp;
    changed.ctime_ns += 1; // chmod, or a change with the modification time set back
    CHECK_FALSE(stamp_trusted(stamp, changed, listed));
    changed = stamp;
    changed.inode = 43; // another directory in its place
    CHECK_FALSE(stamp_trusted(stamp, changed, listed));
    // Racy: a change in the same timestamp granule as the stat that recorded it would leave the
    // same stamp, so a stamp within the margin of the listing is never trusted.
    CHECK_FALSE(stamp_trusted(stamp, stamp, stamp.ctime_ns + k_racy_margin_ns));
    CHECK_FALSE(stamp_trusted(stamp, stamp, stamp.mtime_ns + k_second / 2));
    DirectoryStamp ctime_racy{42, 100 * k_second, 199 * k_second};
    CHECK_FALSE(stamp_trusted(ctime_racy, ctime_racy, listed));
    CHECK(stamp_trusted(stamp, stamp, stamp.ctime_ns + k_racy_margin_ns + 1));
}

TEST_CASE("listing memory: the file survives a round trip and is read strictly") {
    auto dir = test::temp_dir("unit-listing-memory");
    std::string path = (dir.path() / "source.listing").string();
    CHECK(read_source_listing(path).value() == std::nullopt); // missing: no memory, no error
    SourceListing listing;
    listing.source = "/backups/web1/data";
    listing.device = 2049;
    listing.listed_ns = 1'700'000'000 * k_second + 123;
    listing.full_listing = 1'700'000'000;
    std::string a1 = "0a" + std::string(62, '1');
    std::string a2 = "0a" + std::string(62, '2');
    std::string b1 = "ff" + std::string(62, '3');
    listing.directories = {
        {"0a", {7, 11, 12}, 1, 2}, {"0b", {8, 13, 14}, 0, 0}, {"ff", {9, 15, 16}, 0, 1}};
    listing.ids = {a1, a2, b1};
    REQUIRE(write_source_listing(path, listing));
    CHECK((fs::status(path).permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
    auto back = read_source_listing(path);
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->source == listing.source);
    CHECK((*back)->device == listing.device);
    CHECK((*back)->listed_ns == listing.listed_ns);
    CHECK((*back)->full_listing == listing.full_listing);
    REQUIRE((*back)->directories.size() == 3);
    CHECK((*back)->directories[0].stamp == DirectoryStamp{7, 11, 12});
    CHECK((*back)->directories[0].ignored == 1);
    CHECK((*back)->directories[2].count == 1);
    CHECK((*back)->ids == listing.ids);

    std::string text = util::read_file(path).value();
    auto damaged = [&](std::string changed) {
        REQUIRE(util::atomic_write(path, changed, 0600));
        auto read = read_source_listing(path);
        REQUIRE_FALSE(read);
        CHECK(read.error().code() == util::ExitCode::permanent);
    };
    std::string flipped = text;
    flipped[flipped.find(a1)] = '1'; // a pack id's digit: the check sum catches it
    damaged(flipped);
    damaged(text.substr(0, text.size() - 10));
    damaged("");
    // Counts that do not add up are refused when written, as well as when read.
    listing.directories[2].count = 2;
    CHECK_FALSE(write_source_listing(path, listing));
}

TEST_CASE("listing memory: only the pack directories that changed are read") {
    auto dir = test::temp_dir("unit-listing-memory");
    fs::path root = dir.path() / "repo";
    std::string in_0a = add_pack(root, "pack 1"); // the names' first characters vary: see below
    std::string other = add_pack(root, "pack 2");
    REQUIRE(in_0a.substr(0, 2) != other.substr(0, 2));
    fs::path dir_a = root / "data" / in_0a.substr(0, 2);

    ListingMemory first;
    SourceRepository repo = list_with(root, std::nullopt, first);
    CHECK(first.read == 2);
    CHECK(first.reused == 0);
    CHECK(first.changed);
    CHECK(first.next.directories.size() == 2);
    CHECK(first.next.source == root.string());

    SECTION("an unchanged directory is taken from memory, not read") {
        // A stand-in id that is not on disk shows where the files came from.
        SourceListing previous = aged(first.next);
        std::string stand_in = in_0a.substr(0, 2) + std::string(62, 'e');
        for (auto& id : previous.ids) {
            if (id == in_0a) {
                id = stand_in;
            }
        }
        ListingMemory again;
        SourceRepository second = list_with(root, previous, again);
        CHECK(again.reused == 2);
        CHECK(again.read == 0);
        CHECK_FALSE(again.changed); // nothing worth writing
        CHECK(std::ranges::count(packs(second), stand_in) == 1);

        SECTION("a directory with a file added, or one removed, is read again") {
            std::string added = in_0a.substr(0, 2) + std::string(62, '0');
            REQUIRE(util::atomic_write((dir_a / added).string(), "any", 0600));
            ListingMemory third;
            SourceRepository listed = list_with(root, previous, third);
            CHECK(third.read == 1);
            CHECK(third.reused == 1);
            CHECK(third.changed);
            CHECK(std::ranges::count(packs(listed), added) == 1);
            CHECK(std::ranges::count(packs(listed), in_0a) == 1);
            CHECK(std::ranges::count(packs(listed), stand_in) == 0);
            CHECK(std::ranges::is_sorted(packs(listed)));

            fs::remove(dir_a / in_0a);
            ListingMemory fourth;
            SourceRepository after = list_with(root, aged(third.next), fourth);
            CHECK(fourth.read == 1);
            CHECK(std::ranges::count(packs(after), in_0a) == 0); // a deletion is seen
        }
        SECTION("a directory whose modification time was set back is read again") {
            // Its status-change time moves on whatever the modification time says.
            struct stat st {};
            REQUIRE(::stat(dir_a.c_str(), &st) == 0);
            std::string added = in_0a.substr(0, 2) + std::string(62, '0');
            REQUIRE(util::atomic_write((dir_a / added).string(), "any", 0600));
            timespec times[2] = {st.st_atim, st.st_mtim};
            REQUIRE(::utimensat(AT_FDCWD, dir_a.c_str(), times, 0) == 0);
            ListingMemory third;
            SourceRepository listed = list_with(root, previous, third);
            CHECK(third.read == 1);
            CHECK(std::ranges::count(packs(listed), added) == 1);
        }
    }
    SECTION("a racy stamp is never trusted, even when it is unchanged") {
        // The listing began in the same second as the directory's last change: a file that
        // arrived in the same timestamp granule would have left the same stamp behind.
        SourceListing previous = first.next;
        previous.listed_ns =
            std::max(directory_stamp(dir_a).mtime_ns, directory_stamp(dir_a).ctime_ns) +
            k_second / 2;
        for (auto& d : previous.directories) {
            d.stamp = directory_stamp(root / "data" / d.name); // as if just recorded
        }
        previous.ids.erase(std::ranges::find(previous.ids, in_0a)); // the file it "missed"
        previous.directories[previous.directories[0].name == in_0a.substr(0, 2) ? 0 : 1].count = 0;
        ListingMemory again;
        SourceRepository second = list_with(root, previous, again);
        CHECK(again.read == 2);
        CHECK(again.reused == 0);
        CHECK(std::ranges::count(packs(second), in_0a) == 1);
    }
    SECTION("memory of another source, another device, or an overdue full listing is not used") {
        auto check_unused = [&](SourceListing previous) {
            ListingMemory again;
            SourceRepository second = list_with(root, previous, again);
            CHECK(again.reused == 0);
            CHECK(again.read == 2);
            CHECK(again.changed);
            CHECK(packs(second) == packs(repo));
        };
        SourceListing foreign = aged(first.next);
        foreign.source = (dir.path() / "other").string();
        check_unused(foreign);
        SourceListing device = aged(first.next);
        device.device += 1;
        check_unused(device);
        SourceListing overdue = aged(first.next);
        overdue.full_listing -= k_full_listing_interval;
        check_unused(overdue);
        SourceListing future = aged(first.next);
        future.full_listing += 2 * k_full_listing_interval; // the clock went back
        check_unused(future);
        check_unused(SourceListing{});
    }
    SECTION("a full listing is remembered as such; a partial one keeps the last full one's time") {
        ListingMemory again;
        SourceListing previous = aged(first.next);
        previous.full_listing -= 100;
        list_with(root, previous, again);
        CHECK(again.next.full_listing == previous.full_listing);
        CHECK(first.next.full_listing >= previous.full_listing);
    }
}

TEST_CASE("listing memory: a pack directory replaced by a symbolic link is forgotten") {
    auto dir = test::temp_dir("unit-listing-memory");
    fs::path root = dir.path() / "repo";
    std::string id = add_pack(root, "pack 1");
    fs::path sub = root / "data" / id.substr(0, 2);
    ListingMemory first;
    list_with(root, std::nullopt, first);
    fs::remove_all(sub);
    fs::create_directory_symlink(dir.path(), sub);
    ListingMemory again;
    again.previous = aged(first.next);
    auto repo = list_source_repository(root.string(), &again);
    REQUIRE(repo);
    CHECK(repo->unlisted.empty()); // a symlink under data/ is ignored, as before
    CHECK(packs(*repo).empty());
    CHECK(again.next.directories.empty());
    CHECK(again.changed);
}
