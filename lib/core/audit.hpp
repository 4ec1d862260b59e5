// Verifying a restic repository without its password. Every repository file except `config` is
// named by the SHA-256 of its bytes, so re-hashing a file and comparing with its name finds any
// damage. A run hashes one slot of a rotation: a file's slot follows from its name, so N runs
// cover every file exactly once, also as files come and go, without remembering any listing.
//
// The steps are separate functions so that each can be tested alone: list the tree, check what
// the listing shows, select the slot's files, hash them under a budget; audit_repository() runs
// them over one repository with its state and status files.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/audit_state.hpp"
#include "core/repository.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace backup::core {

inline constexpr int k_default_audit_fraction = 30;
inline constexpr int k_max_audit_fraction = 10000;
inline constexpr std::chrono::seconds k_default_temporary_grace{24 * 3600};
inline constexpr int k_audit_status_schema = 1;

// --- option values -------------------------------------------------------------------------

// "1/N" with N from 1 to k_max_audit_fraction: N. Anything else is an error (100) naming option.
util::Expected<int> parse_audit_fraction(std::string_view text,
                                         std::string_view option = "--fraction");
// A number of bytes, optionally with a suffix K, M, G or T (powers of 1024): "500M", "2G".
util::Expected<std::uint64_t> parse_audit_size(std::string_view text,
                                               std::string_view option = "--max-bytes");
// A duration in seconds, optionally with a suffix s, m, h or d: "90", "30m", "1d".
util::Expected<std::chrono::seconds> parse_audit_duration(std::string_view text,
                                                          std::string_view option);

// --- rotation --------------------------------------------------------------------------------

// The slot of the file named id (a repository id) in a cycle of cycle_length (>= 1) runs: the
// number its first 16 hex digits spell, modulo cycle_length. Names are hashes, so slots fill
// evenly, and a file keeps its slot for as long as the cycle length stays the same.
int audit_slot(std::string_view id, int cycle_length);

// The slot a run without a state file works on: the day (UTC) since the epoch modulo
// cycle_length, so that daily runs still rotate.
int stateless_audit_position(std::int64_t now, int cycle_length);

// --- listing ---------------------------------------------------------------------------------

struct AuditEntry {
    std::string relative;                    // relative to the repository, '/' separated
    RepoFileKind kind = RepoFileKind::other; // RepoFileKind::other for any non-regular file
    std::uint64_t size = 0;
    std::int64_t mtime = 0; // seconds since the epoch
    bool regular = true;    // false: a symlink, FIFO, socket or device (never followed)
};

// Every entry under root except directories, sorted by relative path, with size and mtime
// (lstat). Entries that vanish while the tree is walked are left out: restic removes its locks,
// and prune removes packs, at any time. Errors (111) name the directory or file.
util::Expected<std::vector<AuditEntry>> list_audit_entries(const std::string& root);

// Whether relative is a name that a storage server, restic, rclone or this toolkit writes before
// renaming to the final name: "*.rest-server-temp" (rest-server), "*-tmp-*" (restic's local
// backend, restic-replicate), ".*.tmp-*" (util::atomic_write), "*.partial" (rclone), anything
// below ".sgwtmp/" and ".*.sgwtmp.*" (versitygw).
bool is_temporary_name(std::string_view relative);

// --- findings --------------------------------------------------------------------------------

enum class FindingKind {
    hash_mismatch,   // the content does not hash to the name
    empty,           // a repository file of zero bytes
    misplaced,       // a pack outside data/<its first two characters>/
    unexpected,      // not a repository file, nor a young temporary file
    stale_temporary, // a temporary name older than the grace period
    missing_config,  // files but no config
};
std::string_view to_string(FindingKind kind);

struct Finding {
    std::string path; // relative to the repository
    FindingKind kind = FindingKind::unexpected;
    std::string message; // what is wrong, one line, without the path
};

struct ListingCheck {
    std::vector<Finding> findings; // in listing order
    std::size_t temporary = 0;     // temporary names younger than the grace period
};

// What the listing alone shows, checked on every run for every entry (it costs no reads): no
// config although there are files; a repository file of zero bytes; a misplaced pack; anything
// that is not a repository file, except temporary names younger than grace (now - mtime).
ListingCheck check_listing(const std::vector<AuditEntry>& entries, std::int64_t now,
                           std::chrono::seconds grace);

// --- selection -------------------------------------------------------------------------------

// The entries a run hashes, as indices into entries in their (sorted) order: content-addressed,
// non-empty regular files whose slot is position (every one when cycle_length is 1), and whose
// relative path sorts after resume_after when one is given.
std::vector<std::size_t> select_for_audit(const std::vector<AuditEntry>& entries, int cycle_length,
                                          int position,
                                          const std::optional<std::string>& resume_after);

// --- budget ----------------------------------------------------------------------------------

// How much one run may read, shared by every repository of the run and by its worker threads.
// The first file of a run may always start, so that every run makes progress; a file that was
// started is finished, so a run may exceed the budget by the files in progress.
class AuditBudget {
public:
    AuditBudget(std::optional<std::uint64_t> max_bytes,
                std::optional<std::chrono::seconds> max_seconds);

    // Whether a file of size bytes may start now; if so, its bytes are counted. Thread-safe.
    bool try_start(std::uint64_t size);
    // Whether nothing more may start (time is up, or every byte is spent).
    bool exhausted() const;
    bool limited() const { return m_max_bytes.has_value() || m_deadline.has_value(); }

private:
    mutable std::mutex m_mutex;
    std::optional<std::uint64_t> m_max_bytes;
    std::optional<std::chrono::steady_clock::time_point> m_deadline;
    std::uint64_t m_started_bytes = 0;
    bool m_started_any = false;
    bool m_refused = false; // a file did not fit: nothing more starts
};

// --- hashing ---------------------------------------------------------------------------------

// Hashes the file at relative below root: its SHA-256 and size.
using HashFunction = std::function<util::Expected<util::FileHash>(const std::string& root,
                                                                  const std::string& relative)>;

// Opens root/relative for reading without following a symbolic link anywhere below root (openat2
// with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS; O_NOFOLLOW on the last component where the kernel
// has no openat2), and only when it is a regular file: whoever writes the repository (a storage
// server's user) cannot make an audit running as root read another file, a FIFO or a device.
util::Expected<util::Fd> open_repository_file(const std::string& root, const std::string& relative);

// Hashes what fd reads from its current offset to the end with OpenSSL's SHA-256 (util::Sha256) in
// 1 MiB sequential reads, as util::sha256_file does for a path; what names the file in errors.
// With drop_cache, each chunk leaves the page cache once hashed (POSIX_FADV_DONTNEED), so that an
// audit does not push out everything else.
util::Expected<util::FileHash> sha256_fd(int fd, const std::string& what, bool drop_cache);

// open_repository_file, then sha256_fd.
HashFunction default_hash_function(bool drop_cache);

enum class HashOutcome { match, mismatch, vanished, unreadable };

struct HashResult {
    HashOutcome outcome = HashOutcome::match;
    std::uint64_t bytes = 0;          // bytes hashed
    std::string actual;               // the hash of the content (match, mismatch)
    std::optional<util::Error> error; // unreadable: why
};

struct HashRun {
    std::vector<HashResult> results; // results[i] for selected[i], for i < done
    std::size_t done = 0;            // files started and finished: a prefix of the selection
};

// Hashes root/entries[selected[i]] with up to jobs threads, starting the files in selection order
// while the budget allows; the files left (selected[done..]) were never opened. A file that is
// gone when it is opened (lstat says ENOENT) has vanished, which is not a finding.
HashRun hash_selected(const std::string& root, const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, int jobs, AuditBudget& budget,
                      const HashFunction& hash);

// --- one repository --------------------------------------------------------------------------

namespace fs = std::filesystem;

struct AuditTarget {
    std::string repository; // the directory
    std::string client;     // the client it belongs to; empty for a bare path
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
    HashFunction hash;               // empty: default_hash_function(true)
    std::optional<std::int64_t> now; // seconds since the epoch; empty: the clock
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
    std::size_t files_left = 0; // carried over: the budget ran out
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
    // The status file's content, "schema": k_audit_status_schema.
    util::Json to_json() const;
};

// Audits one repository: takes the lock, reads the state, lists and checks the tree, hashes the
// slot's files (or, with all, every file) while the budget lasts, then writes the state and the
// status file (when the target has a state directory). Never throws for what it finds or fails to
// read: everything is in the report.
AuditReport audit_repository(const AuditTarget& target, const AuditOptions& options,
                             AuditBudget& budget);

} // namespace backup::core
