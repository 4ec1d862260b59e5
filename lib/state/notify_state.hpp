// backup-status --notify's memory: what each row (a client, a shared instance, a filesystem, the
// server itself) was when it last looked, and for each target what still has to go out.
// Invariant: an event is in a target's pending list from the run that saw it until a delivery
// of it to that target succeeded; the file is written before any delivery and again after, so a
// run that dies between the two sends that event again (at least once, never lost).
//
// File: ROOT/status/notify.json (0644, replaced atomically), JSON, schema 1:
//   {"schema": 1, "updated": TIME,
//    "rows": [{"row": "client", "name": "web1", "state": "stale", "kinds": ["stale"]}, ...],
//    "targets": [{"name": "webhook ntfy.example.com", "last_sent": TIME|null,
//                 "last_attempt": TIME|null, "failures": 0, "last_error": TEXT|null,
//                 "pending": [EVENT, ...]}, ...]}
//   EVENT: {"row", "name", "from", "to", "time", "problems": [{"kind", "subject", "message"}]}
// row is one of client, instance, filesystem, server; state and to are ok, stale, failing or
// error; from is one of those or "unknown" (first seen in an alerting state). kinds are the ids
// of the row's problems (ProblemKind's to_string). No secret is ever written here: a target is
// known by its name, never by its URL or token.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

inline constexpr int k_notify_state_schema = 1;
inline constexpr std::string_view k_notify_state_file = "notify.json";

struct NotifyProblem {
    std::string kind;
    std::string subject;
    std::string message;
};

// A row that changed its alerting state (or, failing, gained a kind of problem).
struct NotifyEvent {
    std::string row;       // client, instance, filesystem, server
    std::string name;      // the host, the instance's kind, the mount point, the server root
    std::string from;      // ok, stale, failing, error, or unknown
    std::string to;        // ok, stale, failing, error
    std::int64_t time = 0; // when it was seen (unix seconds)
    std::vector<NotifyProblem> problems; // the row's problems then (none when to is ok)
};

// A row as it was last seen.
struct NotifyRowState {
    std::string row;
    std::string name;
    std::string state;
    std::vector<std::string> kinds;
};

struct NotifyTargetState {
    std::string name;
    std::optional<std::int64_t> last_sent;    // its last successful delivery
    std::optional<std::int64_t> last_attempt; // its last delivery, whatever came of it
    std::int64_t failures = 0;                // deliveries that failed since the last success
    std::optional<std::string> last_error;
    std::vector<NotifyEvent> pending; // events it has not been told yet
};

struct NotifyState {
    std::int64_t updated = 0;
    std::vector<NotifyRowState> rows;
    std::vector<NotifyTargetState> targets;
};

std::filesystem::path notify_state_path(const std::filesystem::path& root);
// The state under root; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<NotifyState>> read_notify_state(const std::filesystem::path& root);
// Writes it atomically (making ROOT/status, 0755).
util::Expected<void> write_notify_state(const std::filesystem::path& root,
                                        const NotifyState& state);

// An event as this file holds it; the webhook body and the command's input (status/notify)
// hold events written by this same function, so the two never drift apart.
util::Json notify_event_json(const NotifyEvent& event);

} // namespace backup::core
