// Which files a restic-audit run hashes: the rotation's slot (a file's slot follows from its name,
// so N runs cover every file exactly once, also as files come and go, without remembering any
// listing), and the budget that bounds a run.
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

#include "audit/listing.hpp"

namespace backup::core {

// --- rotation --------------------------------------------------------------------------------

// The slot of the file named id (a repository id) in a cycle of cycle_length (>= 1) runs: the
// number its first 16 hex digits spell, modulo cycle_length. Names are hashes, so slots fill
// evenly, and a file keeps its slot for as long as the cycle length stays the same.
int audit_slot(std::string_view id, int cycle_length);

// The slot a run without a state file works on: the day (UTC) since the epoch modulo
// cycle_length, so that daily runs still rotate.
int stateless_audit_position(std::int64_t now, int cycle_length);

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

} // namespace backup::core
