// Retention per destination (keep_deleted), as pure functions over a ledger: which copied files
// the source no longer has and since when, and which of them a run deletes now. A destination
// deletes a file only keep_deleted after a run first found it gone from the source, and only a
// file the ledger says this tool copied there from this source (replicate_ledger.hpp). Since
// restic's prune deletes snapshots, then index files, then packs, and the run deletes in that
// order too (each phase complete before the next), the destination holds at every moment the
// source as it was keep_deleted ago plus everything copied since: a valid repository that keeps
// every snapshot the source held during the last keep_deleted.
#pragma once

#include "model/config.hpp"
#include "model/repository.hpp"
#include "state/replicate_ledger.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace backup::core {

// Brings the ledger's gone_since times up to date with what the source still has (present: ids
// per phase, sorted, from list_source_presence): a copied file absent from it gets now unless
// it has a time already; one present again loses its time (its deletion is cancelled). With
// keep forever every time is cleared: nothing is pending, and a later keep_deleted counts from
// the run that finds a file gone then. Returns whether anything changed.
bool note_source_deletions(
    ReplicaLedger& ledger,
    const std::array<std::vector<std::string>, k_replicate_phase_count>& present,
    const std::optional<std::chrono::seconds>& keep, std::int64_t now);

// What a run would delete at a destination, and whether it may.
struct DeletionPlan {
    // Files whose gone_since + keep_deleted <= now, per phase (ids, sorted).
    std::array<std::vector<std::string>, k_replicate_phase_count> due;
    std::size_t due_files = 0;
    std::size_t due_snapshots = 0;
    std::uint64_t due_bytes = 0;
    // Every file with a gone_since, due or not.
    std::size_t pending_files = 0;
    std::uint64_t pending_bytes = 0;
    // When the earliest pending deletion falls (or fell) due; nullopt when none is pending.
    std::optional<std::int64_t> next_due;
    // Why the due deletions must wait for a person (nullopt: they may run): the destination is
    // frozen, or they exceed its hold_deletions_above share of snapshots or size and were not
    // confirmed.
    std::optional<std::string> held_because;
};

struct DeletionGate {
    bool frozen = false;    // restic-replicate --hold-deletions
    bool confirmed = false; // restic-replicate --confirm-deletions: the limits are lifted once
};

// The plan for destination (its keep_deleted and hold_deletions_above) at now.
DeletionPlan plan_deletions(const ReplicaLedger& ledger, const Destination& destination,
                            std::int64_t now, const DeletionGate& gate);

} // namespace backup::core
