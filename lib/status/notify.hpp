// backup-status --notify: tells people what changed, once each, through the targets of the
// server config (status.notify).
//
// Rows are the clients (by host), the shared instances (by kind), the filesystems (by mount point)
// and the server itself (its own problems). A row alerts when it is stale, failing or in error;
// an ok, new or disabled client and a row without problems do not. An event is a row whose
// alerting state changed since the last run (ok -> stale, stale -> failing, failing -> ok, ...),
// or that, still alerting, has a kind of problem it did not have: each is announced once. A row
// that disappears (a client removed) is forgotten without a word.
//
// Each target keeps its own pending events (state/notify_state.hpp) and sends them all in one
// message when it may: at most once per min_interval (the target's, else
// status.notify_min_interval). What waits is merged with what comes next, one event per row
// (from the state it was first told away from, to the newest; a row that went and came back
// before anyone was told drops out). A delivery that fails keeps its events for the next run and
// is reported; it never stops the other targets. A target that has never been told anything (the
// very first run, a target added to the config) starts with every row that alerts now, not with
// an "all is well" for the others. A healthchecks webhook reflects the current health: it is
// pinged whenever it may be, events or not, so a check that hears nothing knows backup-status
// itself stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/status_settings.hpp"
#include "state/notify_state.hpp"
#include "status/status.hpp"

namespace backup::core {

// A row as this run sees it.
struct NotifyRow {
    std::string row;   // client, instance, filesystem, server
    std::string name;  // the host, the instance's kind, the mount point, the server root
    std::string state; // ok, stale, failing, error
    std::vector<Problem> problems;
};

// A row for people: the host for a client, "shared versitygw", "filesystem /srv",
// "server /backups".
std::string notify_label(std::string_view row, std::string_view name);

// The rows of status in order: clients, shared instances, filesystems, the server.
std::vector<NotifyRow> notify_rows(const ServerStatus& status);

// What changed from previous to current, seen at now.
std::vector<NotifyEvent> row_transitions(const std::vector<NotifyRowState>& previous,
                                         const std::vector<NotifyRow>& current, std::int64_t now);

// What a target that has never been told anything starts with: every row that alerts, from
// "unknown".
std::vector<NotifyEvent> alerting_events(const std::vector<NotifyRow>& current, std::int64_t now);

// pending with fresh merged in, one event per row, in the order rows first appeared.
std::vector<NotifyEvent> merge_events(std::vector<NotifyEvent> pending,
                                      const std::vector<NotifyEvent>& fresh);

// Whether a target may send at now: never sent, min_interval passed since its last delivery, or
// the clock set back before it (a clock that goes back must not silence alerts for that long).
bool notify_due(const NotifyTargetState& target, std::int64_t now,
                std::chrono::seconds min_interval);

// One message to one target: the events it has not been told, and the server as it is now.
struct NotifyMessage {
    std::string server; // this machine's host name
    std::string root;
    std::int64_t time = 0;
    bool healthy = true;               // backup-status would exit 0 (before this run's deliveries)
    std::vector<std::string> alerting; // the rows that alert now, as labels ("web1", ...)
    std::vector<NotifyEvent> events;
};

struct NotifyPlan {
    // To be written before any delivery: this run's rows, every target's pending events.
    NotifyState state;
    // What goes out now: the target's index in StatusSettings::notify, and its message.
    std::vector<std::pair<std::size_t, NotifyMessage>> deliveries;
};

// This run's plan, from what the last run left (nullopt: nothing, as on the very first run).
NotifyPlan plan_notifications(const std::optional<NotifyState>& previous,
                              const ServerStatus& status, const StatusSettings& settings,
                              const std::string& server_name);

// The outcome of target's delivery at now, in state: on success its pending events are gone and
// its rate limit starts again; on failure they stay, and the error is kept.
void record_delivery(NotifyState& state, const std::string& target, std::int64_t now,
                     const util::Expected<void>& outcome);

// A problem "notify target NAME failing: ..." for each target of settings whose last delivery in
// state failed (it is retried on the next run).
std::vector<Problem> notify_failures(const NotifyState& state, const StatusSettings& settings);

// For a run without --notify: the failing targets that the last --notify recorded
// (ROOT/status/notify.json) added to status.problems, so the table, --json and the exit code show
// a target that does not deliver. An unreadable state file is a problem too; none is nothing.
void add_notify_failures(ServerStatus& status, const StatusSettings& settings);

// The whole of --notify over status: takes ROOT/status/notify.lock, reads the state, plans,
// writes the state, delivers to each target in turn and writes the outcomes. What fails (a
// delivery, the state file) is printed as "backup-status: error: ..." and added to
// status.problems (a delivery as notify_failures says), so the exit code is 1 and --json shows
// it. The server's row never holds these problems: a failing target is not itself announced.
// Another --notify running on the same root: a warning, and nothing done.
void notify_targets(ServerStatus& status, const StatusSettings& settings);

} // namespace backup::core
