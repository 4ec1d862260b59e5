// The source side of replication (restic-replicate): which repository files are copied in which
// phase, the listing of a source repository, and the check that a file's content hashes to its
// name before any destination receives it.
#pragma once

#include "model/repository.hpp"
#include "state/source_listing.hpp"
#include "util/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace backup::core {

class RemoteSource; // remote_source.hpp

// A source repository as one run sees it.
struct SourceRepository {
    std::string root; // the directory, or the remote of a remote primary
    // A remote primary (remote_source.hpp): listed and read through it. nullptr: root is a
    // directory on this machine.
    std::shared_ptr<RemoteSource> remote;
    // A remote primary's listing: the size of each file listed ("data/3f/3f...") and the
    // modification time of each snapshot (id -> unix seconds).
    std::map<std::string, std::uint64_t> sizes;
    std::map<std::string, std::int64_t> times;
    // The content of config; nullopt when there is none (not a restic repository yet).
    std::optional<std::string> config;
    // config is readable by its group: replicas get group-readable files and directories, as
    // restic's own local backend does for such a repository.
    bool group_readable = false;
    // The ids of the content-addressed files, per phase (the config slot stays empty), sorted.
    std::array<std::vector<std::string>, k_replicate_phase_count> ids;
    // Entries that are not copied: locks, temporary names of servers and of restic, misplaced
    // packs, strays, anything that is not a regular file.
    std::size_t ignored = 0;
    // Directories that could not be listed ("data/3f"), with why: their files are not copied
    // this run, everything else is.
    std::vector<std::pair<std::string, util::Error>> unlisted;

    // Repository files to replicate: the content-addressed ones, plus config when present.
    std::size_t file_count() const;
    // When the snapshot file id arrived (its modification time, seconds since the epoch; 0 when
    // it is gone): the server cannot decrypt a snapshot, so this stands for its age in "how far
    // behind". Read from the file system at each call (a remote primary: from its listing).
    std::int64_t snapshot_time(const std::string& id) const;
    // The size of the source file relative now (a remote primary: when it was listed), or
    // nullopt when it is not there.
    std::optional<std::uint64_t> size_of(const std::string& relative) const;
};

// What the listing of a local source may take from the last run's, and what it leaves for the
// next (state/source_listing.hpp).
struct ListingMemory {
    // The last run's listing, or nullopt: every directory of data/ is read. Not used when it
    // is of another source or data/ is on another device, or its last full listing is older
    // than k_full_listing_interval (or in the future); its ids are moved out as they are used.
    std::optional<SourceListing> previous;
    // This listing's, without ids (they are SourceRepository::ids' data): set by
    // list_source_repository.
    SourceListing next;
    bool changed = false;   // next differs from previous: worth writing
    std::size_t reused = 0; // directories of data/ taken from previous
    std::size_t read = 0;   // directories of data/ read
};

// Lists the repository at root: config, keys/, data/<xx>/, index/, snapshots/ (locks/ and
// anything else is never copied, so never listed). With memory, a directory of data/ whose stamp
// the previous listing trusts (stamp_trusted) is not read: its files are the previous listing's.
// The directories are read in reverse phase order (snapshots first), so that a snapshot in the
// listing has its index and packs in it too even while a backup writes new files. Entries that
// vanish while listing (prune, restic's temp files) are left out; a missing directory is empty. A
// directory below root that cannot be listed goes into unlisted and the rest is listed (one data/XX
// at mode 000 must not stop every copy). Errors: root is not a directory (100), root or config
// cannot be read (111).
util::Expected<SourceRepository> list_source_repository(const std::string& root,
                                                        ListingMemory* memory = nullptr);

// The ids still at the source for seeing deletions (retention), per phase, sorted: data from the
// run's listing (read last, after snapshots and index), then index/ and snapshots/ read again,
// in that order. restic's prune deletes snapshots, then index files, then packs, so a file that
// this finds gone has every file the same prune deleted before it (what may refer to it) found
// gone too, in the same run. Any directory that cannot be listed, now or in the run's listing,
// is an error: nothing may be taken for deleted that was merely not seen. A remote primary is
// listed again the same way (RemoteSource::presence).
util::Expected<std::array<std::vector<std::string>, k_replicate_phase_count>>
list_source_presence(const SourceRepository& source);

// What a source file turned out to be when it was read for copying.
enum class SourceCheck {
    good,       // config, or its content hashes to its name
    corrupt,    // its content does not hash to its name: never sent
    vanished,   // gone before it could be opened (a prune): skipped, not an error
    unreadable, // could not be read: not sent
};

struct SourceFileState {
    SourceCheck check = SourceCheck::good;
    std::uint64_t size = 0; // bytes read
    std::string actual;     // the SHA-256 of the content (good and corrupt content-addressed files)
    std::string reason;     // corrupt, unreadable: what is wrong, one line
};

// Reads and hashes source files once per run, however many destinations need them, and
// remembers what it found. A local destination hashes while it copies and records the result.
class SourceVerifier {
public:
    explicit SourceVerifier(std::string root, std::shared_ptr<RemoteSource> remote = nullptr)
        : m_root(std::move(root)), m_remote(std::move(remote)) {}

    const std::string& root() const { return m_root; }
    // The remote primary the files come from, or nullptr (files under root).
    RemoteSource* remote() const { return m_remote.get(); }
    // The state of relative (a repository path under root): read and hashed on the first call,
    // remembered afterwards. A file that is not content-addressed (config) is only read. A
    // remote primary's file is streamed through the hash; one that cannot be read is
    // unreadable.
    const SourceFileState& verify(const std::string& relative);
    // Records what a copy that read the file found.
    void record(const std::string& relative, SourceFileState state);
    // What is known about relative, or nullptr.
    const SourceFileState* find(const std::string& relative) const;

private:
    std::string m_root;
    std::shared_ptr<RemoteSource> m_remote;
    std::map<std::string, SourceFileState> m_states;
};

// The state of a file whose content hashed to actual (64 hex characters) after size bytes:
// good when the name of relative is actual or relative is not content-addressed, else corrupt
// with a reason naming both hashes.
SourceFileState judge_content(std::string_view relative, std::string actual, std::uint64_t size);

} // namespace backup::core
