// restic-replicate's memory of a local source's pack directories (data/XX), so that a run after a
// backup reads only the directories the backup wrote to: 256 directories of a large repository
// cost a tenth of an incremental run to read, and a backup changes a handful.
//
// Invariant: a directory is taken from this file only when its stamp (inode, modification and
// status-change times, nanoseconds) is the one recorded AND both times are older than the moment
// the listing that recorded it began by k_racy_margin_ns. Any entry created, removed or renamed
// in a directory sets both its times to the current time, so a changed directory has another
// stamp, unless the change fell in the same timestamp granule as the stat that recorded it; such
// a stamp is recent when recorded (racy, as git calls its index entries), and a racy directory is
// read again, whatever its stamp. The times are the file system's; the margin covers its
// granularity (one or two seconds on the coarsest) and a small skew between its clock and this
// machine's. A file whose content changes without its directory changing is the audit's concern:
// a listing holds names only.
//
// File: <state>/replicate/source.listing (0600, renamed into place but not flushed: see
// write_source_listing), one per state directory:
//   restic-replicate source listing
//   {"schema": 1, "source": DIR, "device": N, "listed_ns": N, "full_listing": N}
//   d NAME INODE MTIME_NS CTIME_NS IGNORED COUNT      a directory of data/, by name
//   ID                                               COUNT pack ids of it, sorted
//   ...
//   end <SHA-256 of every byte before this line>
// device is data/'s, listed_ns the real time (ns since the epoch) before the listing began, and
// full_listing (unix seconds) when a listing last read every directory, trusting no stamp.
#pragma once

#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

inline constexpr int k_source_listing_schema = 1;
// How much older than the listing a directory's times must be for its stamp to be trusted.
inline constexpr std::int64_t k_racy_margin_ns = 2'000'000'000;
// A listing that trusts no stamp runs at least this often (seconds).
inline constexpr std::int64_t k_full_listing_interval = 24 * 3600;

struct DirectoryStamp {
    std::uint64_t inode = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const DirectoryStamp&) const = default;
};

struct ListedDirectory {
    std::string name; // "3f": below data/
    DirectoryStamp stamp;
    std::size_t ignored = 0; // entries that are not packs of it (SourceRepository::ignored)
    std::size_t count = 0;   // its pack ids in SourceListing::ids
};

struct SourceListing {
    std::string source;         // the repository directory
    std::uint64_t device = 0;   // of data/
    std::int64_t listed_ns = 0; // real time before the listing began
    std::int64_t full_listing = 0;
    std::vector<ListedDirectory> directories; // sorted by name
    // Every pack id, sorted: the first directory's count, then the next one's, ...
    std::vector<std::string> ids;
};

// <state_dir>/replicate/source.listing
std::string source_listing_path(const std::string& state_dir);

// Whether a directory whose stamp is now may be taken from a listing that recorded cached and
// began at listed_ns: equal stamps, both times older than listed_ns by k_racy_margin_ns.
bool stamp_trusted(const DirectoryStamp& cached, const DirectoryStamp& now, std::int64_t listed_ns);

// Strict: the check sum, every line, ids 64 lowercase hex characters beginning with their
// directory's name, sorted, counts that add up; anything else is invalid (100). nullopt when
// there is no file; unreadable: 111.
util::Expected<std::optional<SourceListing>> read_source_listing(const std::string& path);
// Writes it atomically, mode 0600, without fsync (util::atomic_write_unsynced): a listing lost
// in a crash costs the next run a whole listing, never a file.
util::Expected<void> write_source_listing(const std::string& path, const SourceListing& listing);

} // namespace backup::core
