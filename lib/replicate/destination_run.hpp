// One destination's part of a restic-replicate run (see replicate.hpp for the whole run): the
// steps, in order, each of which may end the run to this destination.
#pragma once

#include "replicate/replicate.hpp"
#include "replicate/retention.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

// What one run shares between its destinations.
struct RunContext {
    const ReplicateJob& job;
    const ReplicateOptions& options;
    const SourceRepository& source;
    SourceVerifier& verifier;
    ReplicateReport& report;
    std::set<std::string> reported;                      // source problems reported (once)
    std::map<std::string, std::string> previous_success; // name -> last success
    std::string now;
    std::map<std::string, std::string> previous_deletion; // name -> last run that deleted
    std::int64_t clock = 0;                               // now, unix seconds
    // What the source still has, for retention: listed on first use (presence()).
    std::optional<std::array<std::vector<std::string>, k_replicate_phase_count>> present;
    bool presence_tried = false;
    // rclone destinations' daemons, spawned before the source was listed (by destination name).
    std::map<std::string, std::unique_ptr<util::RcloneDaemon>> spawned;

    void log(LogLevel level, std::string_view line) const;
    // list_source_presence, once per run; nullptr (after a warning) when it failed: no
    // deletion is seen or made this run.
    const std::array<std::vector<std::string>, k_replicate_phase_count>* presence();
    // Reports each corrupt or unreadable source file once per run.
    void report_refused(const std::vector<std::string>& refused);
};

// Brings one destination up to date:
//   1. locate_ledger: the ledger and why the destination must be listed instead (if it must);
//   2. check_config: open the store, read its config; another repository's config ends it
//      before anything is written there;
//   3. mark_interrupted: a local destination is marked as being written to;
//   4. reconcile_listing: when a listing is due, what the destination holds, from the listing;
//   5. copy_phases: the missing files of each phase, the ledger written after each phase;
//   6. retention: after a complete copy, with keep_deleted: the deletions seen, planned, held
//      or made phase by phase (retention.hpp), the ledger written after each phase;
// then finish: how far behind it is, and the report. Never throws for what it finds.
class DestinationRun {
public:
    DestinationRun(RunContext& ctx, const ReplicaTarget& target);
    DestinationReport run();

private:
    void locate_ledger();
    bool check_config();
    bool mark_interrupted();
    bool reconcile_listing();
    void note_listing(const ReplicaListing& listing,
                      const std::array<std::set<std::string>, k_replicate_phase_count>& listed);
    void copy_phases();
    // false when the phase failed: later phases must not run on top of it.
    bool copy_phase(ReplicatePhase phase);
    std::vector<std::string> missing_files(ReplicatePhase phase) const;
    void retention();
    // false when the phase failed: later phases must not run on top of it.
    bool delete_phase(ReplicatePhase phase, const std::vector<std::string>& ids);
    void note_pending(const DeletionGate& gate);
    // only: the one phase whose files changed since the last save.
    bool save_ledger(std::optional<ReplicatePhase> only = std::nullopt);
    void fail(const util::Error& error);
    void count_missing();
    DestinationReport finish();

    RunContext& m_ctx;
    const ReplicaTarget& m_target;
    std::unique_ptr<ReplicaStore> m_store;
    std::chrono::steady_clock::time_point m_started;
    DestinationReport m_rep;
    // What the destination holds, as far as this run knows: the ledger the run will write.
    ReplicaLedger m_next;
    bool m_has_config = false;
    bool m_refused_config = false;
    std::optional<ReplicaLedgerFile> m_ledger_file;
    std::optional<std::string> m_marker_path;
    // The ledger as read: m_ledger_file's, looked at only before the run first saves it.
    const ReplicaLedger* m_ledger = nullptr;
    std::string m_list_reason;
    std::set<std::string> m_differing; // listed with another size than the source
    std::string m_config_sha;
    bool m_ledger_dirty = false;
};

} // namespace backup::core
