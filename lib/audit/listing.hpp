// restic-audit's view of a repository tree: every entry with its size and time, what the listing
// alone shows (checked on every run, at no cost in reads), and which names are temporary.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/defaults.hpp"
#include "model/repository.hpp"
#include "util/error.hpp"

namespace backup::core {

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
// and prune removes packs, at any time. Errors (111) name the directory or file. With unlisted,
// a directory below root that cannot be listed (or an entry that cannot be stat'ed) is recorded
// there and the walk goes on with the rest: one data/XX at mode 000 must not blind the audit.
util::Expected<std::vector<AuditEntry>>
list_audit_entries(const std::string& root, std::vector<util::Error>* unlisted = nullptr);

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

} // namespace backup::core
