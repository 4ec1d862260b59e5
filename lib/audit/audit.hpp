// Verifying a restic repository without its password. Every repository file except `config` is
// named by the SHA-256 of its bytes, so re-hashing a file and comparing with its name finds any
// damage. A run hashes one slot of a rotation: a file's slot follows from its name, so N runs
// cover every file exactly once, also as files come and go, without remembering any listing.
//
// The steps are separate functions so that each can be tested alone: list the tree, check what
// the listing shows, select the slot's files, hash them under a budget; audit_repository() runs
// them over one repository with its state and status files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/hashing.hpp"
#include "audit/listing.hpp"
#include "audit/remote.hpp"
#include "audit/selection.hpp"
#include "state/audit_state.hpp"
#include "state/audit_status.hpp"
#include "util/error.hpp"

namespace backup::core {

// --- one repository --------------------------------------------------------------------------

namespace fs = std::filesystem;

struct AuditTarget {
    std::string repository; // the directory, or for a remote the rclone remote (for messages)
    // Set for a repository on an object store: listed and read through rclone (audit/remote),
    // with the same checks, rotation, state and findings as a directory.
    std::optional<RemoteAuditSource> remote;
    std::string client; // the client it belongs to; empty for a bare path
    // Names its files in state_dir: audit-<label>.json (status), audit-<label>.state.json
    // (state), audit-<label>.lock.
    std::string label;
    // Without one, no state, status or lock file: the slot follows from the day
    // (stateless_audit_position) and a budget's rest is not carried over.
    std::optional<fs::path> state_dir;
    int cycle_length = k_default_audit_fraction;
    // A missing directory is a note ("no repository yet") rather than an error, unless a state
    // file shows it was audited before: a client that has not run `restic init`.
    bool missing_ok = false;
};

// The files of a target in its state directory (it must have one): audit-<label>.state.json,
// audit-<label>.json (the status) and audit-<label>.lock.
fs::path audit_state_file(const AuditTarget& target);
fs::path audit_status_file(const AuditTarget& target);
fs::path audit_lock_file(const AuditTarget& target);

struct AuditOptions {
    bool all = false; // hash every file (a pass of its own, kept apart from the rotation)
    int jobs = 1;
    std::chrono::seconds temporary_grace = k_default_temporary_grace;
    HashFunction hash;                     // empty: default_hash_function(true)
    std::string rclone_program = "rclone"; // for remote targets
    std::optional<std::int64_t> now;       // seconds since the epoch; empty: the clock
};

struct AuditReport {
    AuditTarget target;
    std::string started; // UTC ISO 8601
    std::string finished;
    double duration_seconds = 0;
    bool skipped = false; // the budget was spent before this repository came up
    bool all = false;
    int cycle_length = 1;
    int position = 0;           // the slot worked on
    bool slot_finished = false; // every file of the slot done; the position moved on
    int next_position = 0;
    std::size_t files_listed = 0;   // entries in the tree
    std::size_t files_selected = 0; // files of the slot still to do at the start
    std::size_t files_checked = 0;  // files hashed (match or mismatch)
    std::uint64_t bytes_checked = 0;
    std::size_t files_vanished = 0;
    std::size_t files_unreadable = 0;
    std::size_t directories_unlisted = 0; // below the repository: their files were not audited
    std::size_t files_left = 0;           // carried over: the budget ran out
    std::uint64_t bytes_left = 0;
    std::size_t temporary_files = 0; // young temporary names, not findings
    std::vector<Finding> findings;
    std::vector<util::Error> errors; // could not read, lock held, state unwritable, ...
    std::vector<std::string> notes;  // worth saying, nothing wrong
    std::optional<AuditCoverage> last_full_coverage;
    std::string status_file; // written, or empty
    std::string state_file;

    // 0 clean, 1 findings, or the worst error's code (111 before 100).
    util::ExitCode exit_code() const;
    // The status file's record (state/audit_status.hpp).
    AuditStatus to_status() const;
};

// Audits one repository in three steps: prepare (take the lock, read the state, choose the slot
// or the full pass), hash (list and check the tree, hash the slot's files, or with all every
// file, while the budget lasts), advance (move the rotation on, write the state and the status
// file when the target has a state directory). Never throws for what it finds or fails to read:
// everything is in the report.
AuditReport audit_repository(const AuditTarget& target, const AuditOptions& options,
                             AuditBudget& budget);

} // namespace backup::core
