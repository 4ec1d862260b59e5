// restic-replicate: brings each destination of a restic repository up to date with the whole
// source, copying only what it lacks, in an order that keeps it a valid repository at every
// moment, never deleting or overwriting anything there, and never sending a file whose content
// does not hash to its name.
//
// One run, per destination (independently: one failing does not stop the others):
//   1. config: read the destination's config. A different one means another repository: the
//      destination is refused (100) before anything is written there.
//   2. what it holds: from its ledger (replicate_ledger.hpp), or by listing it when there is no
//      usable ledger, no state directory, --reconcile was given, or the last run to this local
//      destination was interrupted (which also removes that run's temporary files).
//   3. phases keys, config (only when the destination has none), data, index, snapshots: the
//      files of the source it lacks, each phase one batch; the ledger is written after each
//      phase's copies. A phase that fails ends the destination's run, so a later phase never
//      runs on top of an incomplete one. Files that vanished from the source are skipped.
//   4. retention (a destination with keep_deleted, after every copy phase succeeded; see
//      retention.hpp): the copied files the source no longer has get the time they were first
//      found gone; those gone for keep_deleted are deleted, snapshots, then index, then data,
//      the ledger written after each phase. A run that would delete more than the destination's
//      hold_deletions_above, or to a frozen destination, deletes nothing there ("deletion
//      held") until a person confirms (ReplicateJob::confirm_deletions) or releases it.
// Then a status file records, per destination, its state, what was copied, how far behind it is
// and when it last succeeded.
#pragma once

#include "model/config.hpp"
#include "model/layout.hpp"
#include "replicate/source.hpp"
#include "replicate/store.hpp"
#include "state/replicate_ledger.hpp"
#include "state/replicate_status.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

namespace fs = std::filesystem;

struct ReplicaTarget {
    Destination destination;
    std::string label; // how messages name it: its name, or its path or remote in a one-off run
};

struct ReplicateJob {
    std::string source; // the repository directory, or a remote primary's rclone remote
    // source is a remote primary ("store:backups/web1", remote_source.hpp), read with rclone
    // given source_rclone_config as RCLONE_CONFIG when it is set (a client's
    // secrets/rclone.conf), else with ReplicateOptions::rclone's environment as it is.
    bool source_is_remote = false;
    std::string source_rclone_config;
    std::string client;                      // empty for a one-off run
    std::vector<ReplicaTarget> destinations; // names unique
    // Holds replicate/<name>.json (ledgers), replicate/<name>.interrupted (a local destination's
    // run in progress), replicate/lock (one run at a time) and replicate-status.json. Without
    // one, every destination is listed and no status is written.
    std::optional<fs::path> state_dir;
    bool reconcile = false; // list every destination and repair its ledger
    // Destinations (names) whose due deletions run even above their hold_deletions_above
    // (restic-replicate --confirm-deletions); a frozen one stays frozen.
    std::set<std::string> confirm_deletions;
};

enum class LogLevel { info, warning, error };
// One event, one line, without the program name.
using ReplicateLog = std::function<void(LogLevel level, std::string_view line)>;

struct ReplicateOptions {
    RcloneSettings rclone;
    // The run's clock (unix seconds) for retention and the status' times; nullopt: the real
    // one. Tests run weeks of retention in seconds with it (restic-replicate --now).
    std::optional<std::int64_t> now;
    ReplicateLog log; // empty: nothing is logged
    // Called just before each source file is read for a destination (tests: order, vanishing).
    std::function<void(std::string_view destination, ReplicatePhase phase,
                       std::string_view relative)>
        before_copy;
};

enum class ReplicaState {
    ok,         // holds every file of the source
    incomplete, // the run finished, but corrupt or unreadable source files were not sent
    // Every file was copied, but due deletions wait for a person (held_because says why).
    deletion_held,
    failed, // an error stopped the run to it (error says which)
};
std::string_view to_string(ReplicaState state);

struct SnapshotRef {
    std::string id;
    std::int64_t time = 0; // when the snapshot file arrived at the source (its mtime)
};

struct DestinationReport {
    std::string name;
    std::string label;
    std::string kind;   // "local" or "rclone"
    std::string target; // path or remote
    ReplicaState state = ReplicaState::ok;
    std::optional<util::Error> error;
    std::optional<std::string> listed_because; // the destination was listed this run, and why
    std::size_t listed_files = 0;
    std::size_t removed_temporaries = 0;
    std::array<PhaseCount, k_replicate_phase_count> copied{};
    std::size_t already_there = 0; // found at the destination while copying (not in the ledger)
    std::size_t vanished = 0;      // gone from the source during the run: skipped
    std::size_t refused = 0;       // corrupt or unreadable at the source: not sent
    std::size_t differing = 0;     // listed at the destination with another size than the source
    // How far behind it is after the run: source files and snapshots it does not hold, and the
    // newest such snapshot.
    std::size_t missing_files = 0;
    std::size_t missing_snapshots = 0;
    std::optional<SnapshotRef> newest_missing_snapshot;
    std::string last_attempt; // UTC ISO 8601
    std::optional<std::string> last_success;
    // Retention: keep_deleted (nullopt: forever), what this run deleted, what is still pending
    // after it and when the earliest of that falls due, why due deletions were held, whether
    // the destination is frozen, and when a run last deleted something there.
    std::optional<std::chrono::seconds> keep_deleted;
    std::array<PhaseCount, k_replicate_phase_count> deleted{};
    std::size_t pending_deletions = 0;
    std::uint64_t pending_deletion_bytes = 0;
    std::optional<std::int64_t> next_deletion_due;
    std::optional<std::string> held_because;
    bool frozen = false;
    std::optional<std::string> last_deletion;

    std::size_t files_copied() const;
    std::uint64_t bytes_copied() const;
};

struct ReplicateReport {
    std::string source;
    std::string client;
    std::string started;
    std::string finished;
    double duration_seconds = 0;
    std::size_t source_files = 0;
    std::size_t source_snapshots = 0;
    std::vector<std::string> corrupt;    // source files whose content does not match their name
    std::vector<std::string> unreadable; // source files that could not be read
    // Source directories that could not be listed ("data/3f/", also in unreadable): their files
    // were not copied; a later run that can read them copies them.
    std::vector<std::string> unlisted;
    std::vector<DestinationReport> destinations;
    // The run could not start (source unreadable or not a repository, lock held, state
    // directory unusable): nothing was copied and no status written.
    std::optional<util::Error> error;
    std::string status_file;                 // written, or empty
    std::optional<util::Error> status_error; // could not write it

    // The run's exit code:
    //   0   every destination holds every file of the source;
    //   1   some destinations failed while others succeeded, or source files were not sent
    //       (corrupt or unreadable), or destination files differ from the source;
    //   100 the run could not start for a permanent reason, or every destination failed for a
    //       permanent reason (a different config, an unknown remote, a file that differs);
    //   111 the run could not start for a temporary reason, every destination failed and at
    //       least one for a temporary reason (a disk not mounted, a network error), a source
    //       directory could not be listed, or everything else was fine but the status file
    //       could not be written.
    util::ExitCode exit_code() const;
    // The status file's record (state/replicate_status.hpp).
    ReplicateStatus to_status() const;
};

// Runs one replication as described at the top of this file. Never throws for what it finds or
// fails to do: everything is in the report and, one line per event, in options.log.
ReplicateReport replicate(const ReplicateJob& job, const ReplicateOptions& options);

} // namespace backup::core
