#include "state/syncd_status.hpp"

#include "state/json_reader.hpp"

namespace backup::core {

using util::Json;

using util::string_or_null;

std::filesystem::path sync_status_path(const std::filesystem::path& state_dir) {
    return state_dir / std::string(k_syncd_status_file);
}

util::Expected<std::optional<SyncStatus>> read_sync_status(const std::filesystem::path& state_dir) {
    std::string path = sync_status_path(state_dir).string();
    auto json = TRY(read_state_json(path, k_syncd_status_schema));
    if (!json) {
        return std::optional<SyncStatus>();
    }
    JsonFields r(path);
    SyncStatus s;
    s.client = r.string(*json, "client", "");
    s.watchdir = r.string(*json, "watchdir", "");
    s.pid = r.integer(*json, "pid", "", 0, INT32_MAX);
    s.updated = r.time(*json, "updated", "");
    s.last_change_seen = r.optional_time(*json, "last_change_seen", "");
    s.last_attempt = r.optional_time(*json, "last_attempt", "");
    s.last_success = r.optional_time(*json, "last_success", "");
    s.last_result = r.optional_string(*json, "last_result", "");
    s.consecutive_failures = r.integer(*json, "consecutive_failures", "", 0, INT64_MAX);
    s.running = r.boolean(*json, "running", "");
    s.snapshots_synced = r.integer(*json, "snapshots_synced", "", 0, INT64_MAX);
    s.pending_appeared = r.integer(*json, "pending_appeared", "", 0, INT64_MAX);
    s.pending_gone = r.integer(*json, "pending_gone", "", 0, INT64_MAX);
    s.watch_error = r.optional_string(*json, "watch_error", "");
    s.state_error = r.optional_string(*json, "state_error", "");
    s.next_retry = r.optional_time(*json, "next_retry", "");
    if (json->contains("events_received")) {
        s.events_received = r.integer(*json, "events_received", "", 0, INT64_MAX);
    }
    if (json->contains("last_event")) {
        s.last_event = r.optional_time(*json, "last_event", "");
    }
    TRY(r.result());
    return std::optional<SyncStatus>(std::move(s));
}

util::Expected<void> write_sync_status(const std::filesystem::path& state_dir,
                                       const SyncStatus& s) {
    Json json = {
        {"schema", k_syncd_status_schema},
        {"client", s.client},
        {"watchdir", s.watchdir},
        {"pid", s.pid},
        {"updated", s.updated},
        {"last_change_seen", string_or_null(s.last_change_seen)},
        {"last_attempt", string_or_null(s.last_attempt)},
        {"last_success", string_or_null(s.last_success)},
        {"last_result", string_or_null(s.last_result)},
        {"consecutive_failures", s.consecutive_failures},
        {"running", s.running},
        {"snapshots_synced", s.snapshots_synced},
        {"pending_appeared", s.pending_appeared},
        {"pending_gone", s.pending_gone},
        {"watch_error", string_or_null(s.watch_error)},
        {"state_error", string_or_null(s.state_error)},
        {"next_retry", string_or_null(s.next_retry)},
        {"events_received", s.events_received},
        {"last_event", string_or_null(s.last_event)},
    };
    return util::write_json_file(sync_status_path(state_dir).string(), json, 0644);
}

} // namespace backup::core
