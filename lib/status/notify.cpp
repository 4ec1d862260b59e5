#include "status/notify.hpp"

#include <algorithm>
#include <iterator>
#include <unistd.h>

#include "status/notify_deliver.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

namespace {

std::string alerting_state(const ClientInfo& c) {
    switch (c.state) {
    case ClientState::stale:
        return "stale";
    case ClientState::failing:
        return "failing";
    case ClientState::error:
        return "error";
    case ClientState::ok:
    case ClientState::fresh:
    case ClientState::disabled:
        break;
    }
    return "ok";
}

std::string alerting_state(const std::vector<Problem>& problems) {
    return problems.empty() ? "ok" : "failing";
}

bool same_row(const NotifyEvent& a, const NotifyEvent& b) {
    return a.row == b.row && a.name == b.name;
}

NotifyEvent event_of(const NotifyRow& row, std::string from, std::int64_t now) {
    NotifyEvent e{row.row, row.name, std::move(from), row.state, now, {}};
    for (const auto& p : row.problems) {
        e.problems.push_back({std::string(to_string(p.kind)), p.subject, p.message});
    }
    return e;
}

std::vector<std::string> kinds_of(const std::vector<Problem>& problems) {
    std::vector<std::string> kinds;
    for (const auto& p : problems) {
        std::string kind(to_string(p.kind));
        if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
            kinds.push_back(kind);
        }
    }
    return kinds;
}

bool is_heartbeat(const NotifyTarget& target) {
    return target.kind == NotifyTarget::Kind::webhook && target.format == "healthchecks";
}

std::string this_host() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "localhost";
    }
    return name;
}

void report(ServerStatus& status, ProblemKind kind, const std::string& subject,
            const util::Error& error) {
    util::print_error(error);
    std::string more =
        error.more().empty() ? "" : fmt::format(" (and {} more)", error.more().size());
    status.problems.push_back({kind, subject, error.message() + more});
}

} // namespace

std::string notify_label(std::string_view row, std::string_view name) {
    if (row == "client") {
        return std::string(name);
    }
    return fmt::format("{} {}", row == "instance" ? "shared" : row, name);
}

std::vector<NotifyRow> notify_rows(const ServerStatus& status) {
    std::vector<NotifyRow> rows;
    for (const auto& c : status.clients) {
        rows.push_back({"client", c.host, alerting_state(c), c.problems});
    }
    for (const auto& i : status.instances) {
        rows.push_back({"instance", i.kind, alerting_state(i.problems), i.problems});
    }
    for (const auto& f : status.filesystems) {
        rows.push_back({"filesystem", f.path, alerting_state(f.problems), f.problems});
    }
    // The notifier's own failures are not announced through the notifier: they reach people by
    // the exit code, stderr and the status (notify_failures).
    std::vector<Problem> own;
    std::copy_if(status.problems.begin(), status.problems.end(), std::back_inserter(own),
                 [](const Problem& p) { return p.kind != ProblemKind::notify; });
    rows.push_back({"server", status.root.string(), alerting_state(own), own});
    return rows;
}

std::vector<NotifyEvent> row_transitions(const std::vector<NotifyRowState>& previous,
                                         const std::vector<NotifyRow>& current, std::int64_t now) {
    std::vector<NotifyEvent> events;
    for (const auto& row : current) {
        auto was = std::find_if(previous.begin(), previous.end(), [&](const NotifyRowState& p) {
            return p.row == row.row && p.name == row.name;
        });
        if (was == previous.end()) {
            if (row.state != "ok") {
                events.push_back(event_of(row, "unknown", now));
            }
        } else if (was->state != row.state) {
            events.push_back(event_of(row, was->state, now));
        } else if (row.state != "ok") {
            auto kinds = kinds_of(row.problems);
            bool gained = std::any_of(kinds.begin(), kinds.end(), [&](const std::string& k) {
                return std::find(was->kinds.begin(), was->kinds.end(), k) == was->kinds.end();
            });
            if (gained) {
                events.push_back(event_of(row, was->state, now));
            }
        }
    }
    return events;
}

std::vector<NotifyEvent> alerting_events(const std::vector<NotifyRow>& current, std::int64_t now) {
    return row_transitions({}, current, now);
}

std::vector<NotifyEvent> merge_events(std::vector<NotifyEvent> pending,
                                      const std::vector<NotifyEvent>& fresh) {
    for (const auto& e : fresh) {
        auto it = std::find_if(pending.begin(), pending.end(),
                               [&](const NotifyEvent& p) { return same_row(p, e); });
        if (it == pending.end()) {
            pending.push_back(e);
            continue;
        }
        // Told nothing yet: the target hears where the row went from what it last knew.
        NotifyEvent merged = e;
        merged.from = it->from;
        if (merged.to == "ok" && (merged.from == "ok" || merged.from == "unknown")) {
            pending.erase(it);
        } else {
            *it = std::move(merged);
        }
    }
    return pending;
}

bool notify_due(const NotifyTargetState& target, std::int64_t now,
                std::chrono::seconds min_interval) {
    return !target.last_sent || now >= *target.last_sent + min_interval.count() ||
           now < *target.last_sent;
}

NotifyPlan plan_notifications(const std::optional<NotifyState>& previous,
                              const ServerStatus& status, const StatusSettings& settings,
                              const std::string& server_name) {
    auto rows = notify_rows(status);
    NotifyPlan plan;
    plan.state.updated = status.now;
    for (const auto& row : rows) {
        plan.state.rows.push_back({row.row, row.name, row.state, kinds_of(row.problems)});
    }
    std::vector<NotifyEvent> fresh =
        previous ? row_transitions(previous->rows, rows, status.now) : std::vector<NotifyEvent>{};
    NotifyMessage now{server_name, status.root.string(), status.now, status.healthy(), {}, {}};
    for (const auto& row : rows) {
        if (row.state != "ok") {
            now.alerting.push_back(notify_label(row.row, row.name));
        }
    }
    for (std::size_t i = 0; i < settings.notify.size(); ++i) {
        const NotifyTarget& target = settings.notify[i];
        const NotifyTargetState* known = nullptr;
        if (previous) {
            auto it =
                std::find_if(previous->targets.begin(), previous->targets.end(),
                             [&](const NotifyTargetState& t) { return t.name == target.name; });
            known = it == previous->targets.end() ? nullptr : &*it;
        }
        NotifyTargetState t;
        t.name = target.name;
        if (known != nullptr) {
            t = *known;
        }
        t.pending = known != nullptr ? merge_events(std::move(t.pending), fresh)
                                     : alerting_events(rows, status.now);
        auto interval = target.min_interval.value_or(settings.notify_min_interval);
        if ((!t.pending.empty() || is_heartbeat(target)) && notify_due(t, status.now, interval)) {
            NotifyMessage message = now;
            message.events = t.pending;
            plan.deliveries.emplace_back(i, std::move(message));
        }
        plan.state.targets.push_back(std::move(t));
    }
    return plan;
}

void record_delivery(NotifyState& state, const std::string& target, std::int64_t now,
                     const util::Expected<void>& outcome) {
    for (auto& t : state.targets) {
        if (t.name != target) {
            continue;
        }
        t.last_attempt = now;
        if (outcome) {
            t.last_sent = now;
            t.failures = 0;
            t.last_error.reset();
            t.pending.clear();
        } else {
            t.failures += 1;
            t.last_error = outcome.error().message();
        }
    }
}

std::vector<Problem> notify_failures(const NotifyState& state, const StatusSettings& settings) {
    std::vector<Problem> problems;
    for (const auto& target : settings.notify) {
        auto t = std::find_if(state.targets.begin(), state.targets.end(),
                              [&](const NotifyTargetState& s) { return s.name == target.name; });
        if (t == state.targets.end() || t->failures == 0) {
            continue;
        }
        std::string last = t->last_attempt ? util::format_time(*t->last_attempt) : "?";
        problems.push_back({ProblemKind::notify, target.name,
                            util::one_line(fmt::format(
                                "notify target {} failing ({} attempt(s) failed, the "
                                "last at {}: {}); {} event(s) wait",
                                target.name, t->failures, last,
                                t->last_error.value_or("no reason recorded"), t->pending.size()))});
    }
    return problems;
}

void add_notify_failures(ServerStatus& status, const StatusSettings& settings) {
    auto state = read_notify_state(status.root);
    if (!state) {
        status.problems.push_back({ProblemKind::state_file, "notify", state.error().message()});
        return;
    }
    if (*state) {
        auto problems = notify_failures(**state, settings);
        status.problems.insert(status.problems.end(), problems.begin(), problems.end());
    }
}

void notify_targets(ServerStatus& status, const StatusSettings& settings) {
    auto dir = (status.root / "status").string();
    auto made = util::make_directories(dir, 0755);
    if (!made) {
        report(status, ProblemKind::state_file, "notify", made.error());
        return;
    }
    auto lock = util::FileLock::try_acquire(dir + "/notify.lock", 0644);
    if (!lock) {
        report(status, ProblemKind::state_file, "notify", lock.error());
        return;
    }
    if (!*lock) {
        util::print_warning("another 'backup-status --notify' is running on this root: it "
                            "announces what changed, this one nothing");
        return;
    }
    auto previous = read_notify_state(status.root);
    std::optional<util::Error> unreadable;
    if (!previous) {
        // Announcing every alerting row again is better than announcing nothing.
        unreadable = previous.error();
        previous = std::optional<NotifyState>();
    }
    auto plan = plan_notifications(*previous, status, settings, this_host());
    if (auto written = write_notify_state(status.root, plan.state); !written) {
        report(status, ProblemKind::state_file, "notify",
               util::Error(written.error().code(),
                           written.error().message() + " (nothing was announced)"));
        return;
    }
    for (const auto& [index, message] : plan.deliveries) {
        const NotifyTarget& target = settings.notify[index];
        auto outcome = deliver_notification(target, message, settings);
        if (!outcome) {
            util::print_error(
                util::Error(outcome.error().code(),
                            fmt::format("{} ({} event(s) wait for the next run)",
                                        outcome.error().message(), message.events.size())));
        }
        record_delivery(plan.state, target.name, status.now, outcome);
    }
    auto failures = notify_failures(plan.state, settings);
    status.problems.insert(status.problems.end(), failures.begin(), failures.end());
    if (auto written = write_notify_state(status.root, plan.state); !written) {
        report(status, ProblemKind::state_file, "notify", written.error());
    }
    if (unreadable) {
        report(status, ProblemKind::state_file, "notify", *unreadable);
        util::print_warning("started over as on a first run: every row that alerts was announced");
    }
}

} // namespace backup::core
