#include "state/notify_state.hpp"

#include <algorithm>
#include <set>

#include "state/json_reader.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::Json;

namespace {

constexpr std::string_view k_rows[] = {"client", "instance", "filesystem", "server"};
constexpr std::string_view k_states[] = {"ok", "stale", "failing", "error"};

bool one_of(std::string_view value, std::span<const std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::int64_t unix_of(const std::string& text) {
    return util::parse_unix_time(text).value_or(0);
}

std::optional<std::int64_t> unix_of(const std::optional<std::string>& text) {
    return text ? std::optional(unix_of(*text)) : std::nullopt;
}

Json optional_time(const std::optional<std::int64_t>& time) {
    return time ? Json(util::format_time(*time)) : Json(nullptr);
}

// The row and name of object, checked; context names it in messages.
void read_row_key(JsonFields& r, const Json& object, const std::string& context, std::string& row,
                  std::string& name) {
    row = r.string(object, "row", context);
    if (!row.empty() && !one_of(row, k_rows)) {
        r.problem(join_key(context, "row"), "expected client, instance, filesystem or server");
    }
    name = r.string(object, "name", context);
}

std::string read_state_name(JsonFields& r, const Json& object, std::string_view key,
                            const std::string& context, bool unknown_ok) {
    std::string state = r.string(object, key, context);
    if (!state.empty() && !one_of(state, k_states) && !(unknown_ok && state == "unknown")) {
        r.problem(join_key(context, key), unknown_ok
                                              ? "expected ok, stale, failing, error or unknown"
                                              : "expected ok, stale, failing or error");
    }
    return state;
}

NotifyEvent read_event(JsonFields& r, const Json& object, const std::string& context) {
    NotifyEvent e;
    read_row_key(r, object, context, e.row, e.name);
    e.from = read_state_name(r, object, "from", context, true);
    e.to = read_state_name(r, object, "to", context, false);
    e.time = unix_of(r.time(object, "time", context));
    const Json* problems = r.array(object, "problems", context);
    for (std::size_t i = 0; problems != nullptr && i < problems->size(); ++i) {
        std::string at = fmt::format("{}.problems[{}]", context, i);
        const Json& p = (*problems)[i];
        e.problems.push_back(
            {r.string(p, "kind", at), r.string(p, "subject", at), r.string(p, "message", at)});
    }
    return e;
}

std::vector<NotifyRowState> read_rows(JsonFields& r, const Json& top) {
    std::vector<NotifyRowState> rows;
    std::set<std::pair<std::string, std::string>> seen;
    const Json* list = r.array(top, "rows", "");
    for (std::size_t i = 0; list != nullptr && i < list->size(); ++i) {
        std::string context = fmt::format("rows[{}]", i);
        NotifyRowState row;
        read_row_key(r, (*list)[i], context, row.row, row.name);
        row.state = read_state_name(r, (*list)[i], "state", context, false);
        row.kinds = r.string_list((*list)[i], "kinds", context);
        if (!seen.emplace(row.row, row.name).second) {
            r.problem(context, fmt::format("{} {} is there twice", row.row, row.name));
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

NotifyTargetState read_target(JsonFields& r, const Json& object, const std::string& context) {
    NotifyTargetState t;
    t.name = r.string(object, "name", context);
    t.last_sent = unix_of(r.optional_time(object, "last_sent", context));
    t.last_attempt = unix_of(r.optional_time(object, "last_attempt", context));
    t.failures = r.integer(object, "failures", context, 0, INT64_MAX);
    t.last_error = r.optional_string(object, "last_error", context);
    const Json* pending = r.array(object, "pending", context);
    for (std::size_t i = 0; pending != nullptr && i < pending->size(); ++i) {
        t.pending.push_back(
            read_event(r, (*pending)[i], fmt::format("{}.pending[{}]", context, i)));
    }
    return t;
}

} // namespace

std::filesystem::path notify_state_path(const std::filesystem::path& root) {
    return root / "status" / std::string(k_notify_state_file);
}

util::Expected<std::optional<NotifyState>> read_notify_state(const std::filesystem::path& root) {
    std::string path = notify_state_path(root).string();
    auto json = TRY(read_state_json(path, k_notify_state_schema));
    if (!json) {
        return std::optional<NotifyState>();
    }
    JsonFields r(path);
    NotifyState state;
    state.updated = unix_of(r.time(*json, "updated", ""));
    state.rows = read_rows(r, *json);
    std::set<std::string> names;
    const Json* targets = r.array(*json, "targets", "");
    for (std::size_t i = 0; targets != nullptr && i < targets->size(); ++i) {
        std::string context = fmt::format("targets[{}]", i);
        state.targets.push_back(read_target(r, (*targets)[i], context));
        if (!names.insert(state.targets.back().name).second) {
            r.problem(context,
                      fmt::format("target '{}' is there twice", state.targets.back().name));
        }
    }
    TRY(r.result());
    return std::optional<NotifyState>(std::move(state));
}

Json notify_event_json(const NotifyEvent& e) {
    Json problems = Json::array();
    for (const auto& p : e.problems) {
        problems.push_back({{"kind", p.kind}, {"subject", p.subject}, {"message", p.message}});
    }
    return {{"row", e.row},
            {"name", e.name},
            {"from", e.from},
            {"to", e.to},
            {"time", util::format_time(e.time)},
            {"problems", std::move(problems)}};
}

util::Expected<void> write_notify_state(const std::filesystem::path& root,
                                        const NotifyState& state) {
    Json rows = Json::array();
    for (const auto& row : state.rows) {
        rows.push_back(
            {{"row", row.row}, {"name", row.name}, {"state", row.state}, {"kinds", row.kinds}});
    }
    Json targets = Json::array();
    for (const auto& t : state.targets) {
        Json pending = Json::array();
        for (const auto& e : t.pending) {
            pending.push_back(notify_event_json(e));
        }
        targets.push_back({{"name", t.name},
                           {"last_sent", optional_time(t.last_sent)},
                           {"last_attempt", optional_time(t.last_attempt)},
                           {"failures", t.failures},
                           {"last_error", t.last_error ? Json(*t.last_error) : Json(nullptr)},
                           {"pending", std::move(pending)}});
    }
    auto path = notify_state_path(root);
    TRY(util::make_directories(path.parent_path().string(), 0755));
    Json json = {{"schema", k_notify_state_schema},
                 {"updated", util::format_time(state.updated)},
                 {"rows", std::move(rows)},
                 {"targets", std::move(targets)}};
    return util::write_json_file(path.string(), json, 0644);
}

} // namespace backup::core
