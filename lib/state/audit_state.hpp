// restic-audit's progress through one repository, kept between runs in a JSON state file
// (schema-versioned, written atomically): where the rotation stands, what a run cut short by its
// budget left over, and when the whole repository was last verified. Nothing else is needed to
// cover every file once per cycle: a file's slot follows from its name (see audit.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

inline constexpr int k_audit_state_schema = 1;

// A complete verification: every file that existed from started to finished was hashed between
// those two times (the cycle that ended, or the --all pass).
struct AuditCoverage {
    std::string started;
    std::string finished;
};

// Where a rotation of N slots stands.
struct AuditRotation {
    int length = 0;   // N; 0 when no rotation has run yet
    int position = 0; // the slot the next run works on, 0..N-1
    // Files are taken in order of their relative path; when a run stopped inside the slot, the
    // last one it did. The next run continues after it.
    std::optional<std::string> resume_after;
    // When this cycle's slot 0 was begun; absent before that.
    std::optional<std::string> cycle_started;
    // A file or directory of this cycle could not be read: its end is no full coverage.
    bool incomplete = false;
};

// A full pass (--all) that a budget interrupted; the next --all run continues it.
struct AuditFullPass {
    std::string started;
    std::string resume_after;
};

struct AuditState {
    std::string repository; // the directory audited, for a reader of the file
    AuditRotation rotation;
    std::optional<AuditFullPass> full;
    std::optional<AuditCoverage> last_full_coverage;
    std::string last_run; // when the last run over this repository finished; empty: never
};

// The JSON form, with "schema": k_audit_state_schema.
util::Json audit_state_to_json(const AuditState& state);
// Strict: a missing key, a wrong type, a position outside the cycle or another schema number is
// an error naming what (code 100).
util::Expected<AuditState> audit_state_from_json(const util::Json& json, std::string_view what);

// The state stored at path; nullopt when there is no such file. Unreadable: 111; unparsable or
// invalid: 100.
util::Expected<std::optional<AuditState>> read_audit_state(const std::string& path);
// Writes the state atomically (util::write_json_file), mode 0644.
util::Expected<void> write_audit_state(const std::string& path, const AuditState& state);

} // namespace backup::core
