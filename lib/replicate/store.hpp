// The destinations of replication (restic-replicate): a local directory, written through temp
// names, fsync and rename; or an rclone remote, written by the real rclone in one batch per
// phase. Both never overwrite anything at the destination and never send a source file whose
// content does not hash to its name; they delete only the files remove() is given (retention
// decides which: retention.hpp), never config or keys/.
#pragma once

#include "model/config.hpp"
#include "replicate/source.hpp"
#include "util/error.hpp"
#include "util/process.hpp"
#include "util/rclone_rc.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

namespace fs = std::filesystem;

// A restic config is a few hundred bytes; anything far larger read from a store is not one, and
// is not kept.
inline constexpr std::size_t k_max_restic_config_size = 1 << 20;

// Temporary names of a local destination: "<name>.restic-replicate-tmp-XXXXXX" in the file's own
// directory. restic ignores them (they are not ids), the audit counts them as temporary
// ("*-tmp-*"), and the next run removes those a killed run left behind.
inline constexpr std::string_view k_replica_temporary_marker = ".restic-replicate-tmp-";
// Whether a file name (not a path) is such a temporary name.
bool is_replica_temporary_name(std::string_view name);

struct ListedFile {
    std::string relative; // a repository file: "config", "keys/<id>", "data/<xx>/<id>", ...
    std::uint64_t size = 0;
};

struct ReplicaListing {
    std::vector<ListedFile> files;       // repository files of the copied kinds (no locks)
    std::size_t removed_temporaries = 0; // stale temp names of this tool removed (local only)
};

// What one copy() did.
struct CopyOutcome {
    // Now at the destination, in the order they arrived: sent, or (local) found there already
    // with the same content. Only these may go into the ledger.
    std::vector<std::string> present;
    std::size_t sent = 0;    // files sent
    std::uint64_t bytes = 0; // bytes of the files sent
    std::size_t already_there = 0;
    std::vector<std::string> vanished; // gone from the source: skipped
    std::vector<std::string> refused;  // corrupt or unreadable at the source: never sent
    std::optional<util::Error> error;  // the batch stopped (present holds what made it)
    // Of present, the files that were already at the destination (local: same content found
    // there): not copied by this run, so never to be deleted by retention. rclone: the files
    // that existed there, the same size and hash.
    std::set<std::string> found;
};

// What one remove() did.
struct RemoveOutcome {
    // Gone from the destination, durably (deleted, or not there): may leave the ledger.
    std::vector<std::string> removed;
    std::optional<util::Error> error; // the batch stopped (removed holds what is known gone)
};

// Called with each file's relative path just before it is read for copying (tests use it to
// observe the order and to make files vanish).
using CopyHook = std::function<void(std::string_view relative)>;

// One destination, used for one run.
class ReplicaStore {
public:
    virtual ~ReplicaStore() = default;
    virtual std::string_view kind() const = 0; // "local" or "rclone"
    virtual const std::string& target() const = 0;
    // Gets ready for a run; a local store takes an exclusive lock on its directory. Errors name
    // the destination: 111 for a missing directory (a disk not mounted), a lock held or an
    // unreachable remote.
    virtual util::Expected<void> open() = 0;
    // The destination's config, or nullopt when it has none. expected is the source's: a store
    // may answer with it without reading when the hash it keeps of its config (S3: the MD5)
    // shows the two are the same bytes.
    virtual util::Expected<std::optional<std::string>> read_config(std::string_view expected) = 0;
    // Every repository file the destination holds (a full listing). A local store also removes
    // the temporary files of this tool that a killed run left behind.
    virtual util::Expected<ReplicaListing> list() = 0;
    // Copies files (relative paths of one phase, in this order) from the source, verifying each
    // source file before anything of it becomes visible under its name at the destination.
    // Never overwrites: a file that exists at the destination is left as it is (local: the
    // batch fails when its content differs; rclone: --immutable makes rclone fail).
    virtual CopyOutcome copy(ReplicatePhase phase, const std::vector<std::string>& files,
                             SourceVerifier& verifier, const CopyHook& before_each) = 0;
    // Deletes files (relative paths of one deletable phase: data, index or snapshots; anything
    // else is refused) from the destination, the whole batch before returning, durably (local:
    // unlink, then fsync of every directory touched; rclone: one `rclone delete` whose success
    // says every file is gone). A file already absent counts as removed.
    virtual RemoveOutcome remove(ReplicatePhase phase, const std::vector<std::string>& files) = 0;
};

// How rclone is run: the program and its whole environment (rclone's config file is found
// through HOME or RCLONE_CONFIG, credentials come from it or from RCLONE_CONFIG_<NAME>_*
// variables; nothing secret is ever put on rclone's command line).
struct RcloneSettings {
    std::string program = "rclone";
    util::Environment env;
};

// The rclone rcd of an rclone destination's store, spawned early: a run starts them before it
// lists the source, so that rclone's start overlaps the listing. nullptr when it cannot be
// spawned (the store then starts one itself, and says why that fails).
std::unique_ptr<util::RcloneDaemon> spawn_rclone_daemon(const RcloneSettings& rclone);

// The store for a destination: local for a path (local_store.hpp), rclone for a remote
// (rclone_store.hpp), which takes daemon, spawned by spawn_rclone_daemon() for it, if given.
std::unique_ptr<ReplicaStore>
make_replica_store(const Destination& destination, const SourceRepository& source,
                   const RcloneSettings& rclone,
                   std::unique_ptr<util::RcloneDaemon> daemon = nullptr);

} // namespace backup::core
