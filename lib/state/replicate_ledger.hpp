// restic-replicate's record of what one destination holds: the ledger. It lets an incremental run
// work out what is missing from the source listing alone, with no listing of the destination,
// so a run after a backup costs requests in proportion to the new files. It is written
// (atomically) only after the copies it records have succeeded, so it may miss files that are
// there (they are then copied again, which a destination that never overwrites turns into a
// no-op) but never lists a file the run did not see arrive or listed itself.
//
// It also says which of those files this tool copied there from this source ("copied"), the
// only files a destination with keep_deleted may ever delete: a file merely found there (by a
// listing, or already there when a copy went to write it) is never deleted, whatever its name.
// A copied file that a run found absent from the source carries the time of the first such run
// ("gone_since"); it is deleted keep_deleted after that, and a run that finds it at the source
// again clears the time. copied is a subset of files, so a file deleted from the destination
// (and so from files) is no longer copied either.
//
// Files: <state>/replicate/<destination name>.ledger (replica_ledger_path) and .journal. Rewriting
// the whole ledger (megabytes of JSON for a large repository) after each phase, and parsing it,
// cost an incremental run most of its time; so the ledger file is one line per file, and a run
// appends what changed to the journal, rewriting the ledger file only when the journal has grown
// to a quarter of it.
//
// The ledger file (schema 3):
//   restic-replicate ledger
//   {"schema": 3, "destination": {"name": ..., "kind": "local"|"rclone", "target": ...},
//    "config_sha256": "<hex>"|null, "updated": "<UTC ISO 8601>", "journal": GENERATION}
//   a change line (below) per file, by phase and id: "c" for a copied file (and "g" when it is
//   gone from the source), "+" for one found there
//   end <SHA-256 of every byte before this line>
// A ledger file that fails its check is invalid (the destination is listed instead).
//
// The journal: "restic-replicate ledger journal GENERATION", naming the ledger file it
// continues; a journal of another generation is left over from before the last rewrite and
// ignored. Then one line per change, "<change> <check>", check being the first 8 hex digits of
// the change's SHA-256:
//   c PHASE ID SIZE   copied (into files and copied)     + PHASE ID   found (into files only)
//   - PHASE ID        gone from the destination          g PHASE ID TIME|-   gone_since
//   k SHA256|-        config_sha256                      u TIME       updated
// A line that is cut short or fails its check ends the journal there (a crash while appending):
// what follows is not read, and the next append truncates it away. Losing the tail only loses
// records of files that are there (copied again: a no-op on a destination that never
// overwrites) or of deletions done (done again: a no-op), never claims a file that is not there.
//
// Earlier versions wrote <destination name>.json, read when there is no .ledger file (and removed
// by the first whole write):
//   {"schema": 2, "destination": {...}, "config_sha256": ..., "updated": ...,
//    "files": {"keys": [id...], "data": [id...], "index": [id...], "snapshots": [id...]},
//    "copied": {"data"|"index"|"snapshots": {id: {"size": bytes, "gone_since": TIME|null}}}}
// Schema 1 (before retention) has no "copied": it is read with every file counted as found, not
// copied, since a schema-1 ledger also holds what listings found. So the files a destination
// held before retention are never deleted by it; only files copied from then on are.
#pragma once

#include "model/repository.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace backup::core {

// The schema written: 3, lines (see ReplicaLedgerFile). 2 and 1 are the JSON forms of earlier
// versions, still read.
inline constexpr int k_replicate_ledger_schema = 3;
inline constexpr int k_replicate_ledger_schema_json = 2;
// The schema before retention, still read (see the top of this file).
inline constexpr int k_replicate_ledger_schema_1 = 1;
// Below a client's (or a one-off run's) state directory: the ledgers, the markers of interrupted
// runs to local destinations, and the lock of one run at a time.
inline constexpr std::string_view k_replicate_state_subdir = "replicate";

// <state_dir>/replicate/<name>.ledger
std::string replica_ledger_path(const std::string& state_dir, std::string_view name);

// The phases whose files keep_deleted may delete: not keys, not config.
constexpr bool is_deletable_phase(ReplicatePhase phase) {
    return phase == ReplicatePhase::data || phase == ReplicatePhase::index ||
           phase == ReplicatePhase::snapshots;
}

struct CopiedFile {
    std::uint64_t size = 0;                 // its size when it was copied
    std::optional<std::int64_t> gone_since; // unix time a run first found it gone from the source
};

struct ReplicaLedger {
    std::string name;   // the destination's name
    std::string kind;   // "local" or "rclone"
    std::string target; // its path or rclone remote: a ledger for another target is not used
    // The SHA-256 of the config both sides held when it was last copied or compared.
    std::optional<std::string> config_sha256;
    std::string updated; // when it was last written (UTC ISO 8601); set by write_replica_ledger
    // The ids of the content-addressed files present at the destination, per phase (the config
    // slot stays empty).
    std::array<std::set<std::string>, k_replicate_phase_count> ids;
    // Of those, the ones this tool copied from this source, per deletable phase (data, index,
    // snapshots; the other slots stay empty).
    std::array<std::map<std::string, CopiedFile>, k_replicate_phase_count> copied;

    bool contains(ReplicatePhase phase, const std::string& id) const {
        return ids[phase_index(phase)].contains(id);
    }
    std::size_t file_count() const;
    // Records a file this tool just copied (a deletable phase's: others are only in ids).
    void add_copied(ReplicatePhase phase, const std::string& id, std::uint64_t size);
    // Drops a file from the destination's record (it was deleted there).
    void remove(ReplicatePhase phase, const std::string& id);
};

// The JSON form of earlier versions, "schema": 2 (tests write it, as an earlier version did).
util::Json replica_ledger_to_json(const ReplicaLedger& ledger);
// Strict: a missing key, a wrong type, an id that is not 64 lowercase hex characters, a copied
// file that is not in files, or a schema other than 3 (a ledger file's header), 2 or 1 is an
// error naming what (100).
util::Expected<ReplicaLedger> replica_ledger_from_json(const util::Json& json,
                                                       std::string_view what);

// The ledger file with its journal applied; nullopt when there is no ledger file. Unreadable:
// 111; invalid: 100 (a torn journal tail is not invalid: see the top of this file).
util::Expected<std::optional<ReplicaLedger>> read_replica_ledger(const std::string& path);
// Sets ledger.updated to now and writes it atomically (util::write_json_file, mode 0600) under a
// new generation, with an empty journal.
util::Expected<void> write_replica_ledger(const std::string& path, ReplicaLedger& ledger);

// One destination's ledger as a run keeps it: read once, then saved after each step by appending
// what changed to the journal (one write and fdatasync), or by a whole write when there is no
// ledger file of this target yet or the journal has grown past a quarter of the ledger.
class ReplicaLedgerFile {
public:
    explicit ReplicaLedgerFile(std::string path);
    const std::string& path() const { return m_path; }
    // read_replica_ledger(), remembering what is on disk; nullptr when there is no ledger. The
    // ledger stays this object's, and changes as it is saved.
    util::Expected<const ReplicaLedger*> read();
    // Sets ledger.updated to now and makes the file say ledger. only: the caller changed no
    // other phase's files since the last save, so only that phase is compared (a change it
    // misses stays unsaved until a save that compares all; what is saved is always what the
    // journal says).
    util::Expected<void> save(ReplicaLedger& ledger,
                              std::optional<ReplicatePhase> only = std::nullopt);

private:
    util::Expected<void> write_whole(ReplicaLedger& ledger);

    std::string m_path;
    std::string m_journal;
    std::optional<ReplicaLedger> m_saved; // what the files say, when this object knows
    std::string m_generation;             // empty: no journal to append to
    std::size_t m_records = 0;            // journal lines after its header
    std::uint64_t m_end = 0;              // where the journal's last good line ends
};

} // namespace backup::core
