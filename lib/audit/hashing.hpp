// Hashing the files a restic-audit run selected, with a thread pool, under the budget.
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

#include "audit/selection.hpp"
#include "util/sha256.hpp"

namespace backup::core {

// --- hashing ---------------------------------------------------------------------------------

// Hashes the file at relative below root: its SHA-256 and size.
using HashFunction = std::function<util::Expected<util::FileHash>(const std::string& root,
                                                                  const std::string& relative)>;

// util::open_beneath, then util::sha256_fd: whoever writes the repository cannot make an audit
// running as root read another file, a FIFO or a device.
HashFunction default_hash_function(bool drop_cache);

// unreadable: this file could not be read (a bad sector), the run goes on with the others;
// unavailable: the store failed (a remote's network error, timeout, 5xx), so no more files are
// started and the run resumes at this one.
enum class HashOutcome { match, mismatch, vanished, unreadable, unavailable };

struct HashResult {
    HashOutcome outcome = HashOutcome::match;
    std::uint64_t bytes = 0;          // bytes hashed
    std::string actual;               // the hash of the content (match, mismatch)
    std::optional<util::Error> error; // unreadable, unavailable: why
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

// Hashes one entry, wherever it is stored; must be thread-safe and must not throw.
using EntryHasher = std::function<HashResult(const AuditEntry& entry)>;

// The same over any store: entries[selected[i]] through hash, in selection order under the
// budget; after an unavailable result no more files start (results[] may then hold files
// finished after it by other threads).
HashRun hash_selected(const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, int jobs, AuditBudget& budget,
                      const EntryHasher& hash);

} // namespace backup::core
