#include "state/replicate_status.hpp"

#include "state/json_reader.hpp"

namespace backup::core {

using util::Json;

using util::string_or_null;

namespace {

Json counts_to_json(const std::array<PhaseCount, k_replicate_phase_count>& counts) {
    Json out = Json::object();
    for (auto phase : k_replicate_phases) {
        const auto& count = counts[phase_index(phase)];
        out[std::string(to_string(phase))] = {{"files", count.files}, {"bytes", count.bytes}};
    }
    return out;
}

Json retention_to_json(const std::optional<RetentionStatus>& r) {
    if (!r) {
        return nullptr;
    }
    return {
        {"keep_deleted", r->keep_deleted},
        {"deleted", counts_to_json(r->deleted)},
        {"files_deleted", r->files_deleted()},
        {"bytes_deleted", r->bytes_deleted()},
        {"pending_files", r->pending_files},
        {"pending_bytes", r->pending_bytes},
        {"next_due", string_or_null(r->next_due)},
        {"held", string_or_null(r->held)},
        {"frozen", r->frozen},
        {"last_deletion", string_or_null(r->last_deletion)},
    };
}

Json destination_to_json(const DestinationStatus& d) {
    Json copied = counts_to_json(d.copied);
    Json newest = nullptr;
    if (d.newest_missing_snapshot) {
        newest = {{"id", d.newest_missing_snapshot->id}, {"time", d.newest_missing_snapshot->time}};
    }
    return {
        {"name", d.name},
        {"kind", d.kind},
        {"target", d.target},
        {"state", d.state},
        {"error", string_or_null(d.error)},
        {"error_code", d.error_code ? Json(*d.error_code) : Json(nullptr)},
        {"listed", string_or_null(d.listed)},
        {"copied", std::move(copied)},
        {"files_copied", d.files_copied()},
        {"bytes_copied", d.bytes_copied()},
        {"already_there", d.already_there},
        {"vanished", d.vanished},
        {"not_sent", d.not_sent},
        {"differing", d.differing},
        {"missing_files", d.missing_files},
        {"missing_snapshots", d.missing_snapshots},
        {"newest_missing_snapshot", std::move(newest)},
        {"last_attempt", d.last_attempt},
        {"last_success", string_or_null(d.last_success)},
        {"retention", retention_to_json(d.retention)},
    };
}

std::size_t count(JsonFields& r, const Json& json, std::string_view key, std::string_view context) {
    return static_cast<std::size_t>(r.integer(json, key, context, 0, INT64_MAX));
}

void read_counts(JsonFields& r, const Json& json, std::string_view key, const std::string& context,
                 std::array<PhaseCount, k_replicate_phase_count>& counts) {
    const Json* object = r.object(json, key, context);
    if (object == nullptr) {
        return;
    }
    std::string inner = join_key(context, key);
    for (auto phase : k_replicate_phases) {
        std::string name(to_string(phase));
        if (const Json* c = r.object(*object, name, inner); c != nullptr) {
            std::string at = join_key(inner, name);
            counts[phase_index(phase)] = {count(r, *c, "files", at),
                                          static_cast<std::uint64_t>(count(r, *c, "bytes", at))};
        }
    }
}

// "retention": absent (files of earlier versions) or null reads as nullopt.
std::optional<RetentionStatus> read_retention(JsonFields& r, const Json& json,
                                              const std::string& context) {
    auto found = json.find("retention");
    if (found == json.end() || found->is_null()) {
        return std::nullopt;
    }
    const Json* object = r.object(json, "retention", context);
    if (object == nullptr) {
        return std::nullopt;
    }
    std::string at = join_key(context, "retention");
    RetentionStatus rs;
    rs.keep_deleted = r.string(*object, "keep_deleted", at);
    read_counts(r, *object, "deleted", at, rs.deleted);
    rs.pending_files = count(r, *object, "pending_files", at);
    rs.pending_bytes = static_cast<std::uint64_t>(count(r, *object, "pending_bytes", at));
    rs.next_due = r.optional_time(*object, "next_due", at);
    rs.held = r.optional_string(*object, "held", at);
    rs.frozen = r.boolean(*object, "frozen", at);
    rs.last_deletion = r.optional_time(*object, "last_deletion", at);
    return rs;
}

DestinationStatus destination_from_json(JsonFields& r, const Json& json, std::size_t index) {
    std::string at = fmt::format("destinations[{}]", index);
    DestinationStatus d;
    d.name = r.string(json, "name", at);
    d.kind = r.string(json, "kind", at);
    d.target = r.string(json, "target", at);
    d.state = r.string(json, "state", at);
    if (d.state != "ok" && d.state != "incomplete" && d.state != "failed" &&
        d.state != "deletion held") {
        r.problem(join_key(at, "state"), "expected ok, incomplete, deletion held or failed");
    }
    d.error = r.optional_string(json, "error", at);
    if (const Json* code = r.get(json, "error_code", at); code != nullptr && !code->is_null()) {
        d.error_code = static_cast<int>(r.integer(json, "error_code", at, 0, 255));
    }
    d.listed = r.optional_string(json, "listed", at);
    read_counts(r, json, "copied", at, d.copied);
    d.already_there = count(r, json, "already_there", at);
    d.vanished = count(r, json, "vanished", at);
    d.not_sent = count(r, json, "not_sent", at);
    d.differing = count(r, json, "differing", at);
    d.missing_files = count(r, json, "missing_files", at);
    d.missing_snapshots = count(r, json, "missing_snapshots", at);
    if (const Json* newest = r.object(json, "newest_missing_snapshot", at, true)) {
        std::string inner = join_key(at, "newest_missing_snapshot");
        d.newest_missing_snapshot =
            MissingSnapshot{r.string(*newest, "id", inner), r.time(*newest, "time", inner)};
    }
    d.last_attempt = r.time(json, "last_attempt", at);
    d.last_success = r.optional_time(json, "last_success", at);
    d.retention = read_retention(r, json, at);
    return d;
}

} // namespace

std::size_t RetentionStatus::files_deleted() const {
    std::size_t total = 0;
    for (const auto& c : deleted) {
        total += c.files;
    }
    return total;
}

std::uint64_t RetentionStatus::bytes_deleted() const {
    std::uint64_t total = 0;
    for (const auto& c : deleted) {
        total += c.bytes;
    }
    return total;
}

std::size_t DestinationStatus::files_copied() const {
    std::size_t total = 0;
    for (const auto& c : copied) {
        total += c.files;
    }
    return total;
}

std::uint64_t DestinationStatus::bytes_copied() const {
    std::uint64_t total = 0;
    for (const auto& c : copied) {
        total += c.bytes;
    }
    return total;
}

std::filesystem::path replicate_status_path(const std::filesystem::path& state_dir) {
    return state_dir / std::string(k_replicate_status_file);
}

Json replicate_status_to_json(const ReplicateStatus& s) {
    Json destinations = Json::array();
    for (const auto& d : s.destinations) {
        destinations.push_back(destination_to_json(d));
    }
    return Json{
        {"schema", k_replicate_status_schema},
        {"client", string_or_null(s.client)},
        {"source", s.source},
        {"started", s.started},
        {"finished", s.finished},
        {"duration_seconds", s.duration_seconds},
        {"exit_code", s.exit_code},
        {"source_files", s.source_files},
        {"source_snapshots", s.source_snapshots},
        {"corrupt_files", s.corrupt_files},
        {"unreadable_files", s.unreadable_files},
        {"destinations", std::move(destinations)},
    };
}

util::Expected<ReplicateStatus> replicate_status_from_json(const Json& json,
                                                           std::string_view what) {
    JsonFields r{std::string(what)};
    if (!r.schema(json, k_replicate_status_schema)) {
        return std::unexpected(r.result().error());
    }
    ReplicateStatus s;
    s.client = r.optional_string(json, "client", "");
    s.source = r.string(json, "source", "");
    s.started = r.time(json, "started", "");
    s.finished = r.time(json, "finished", "");
    s.duration_seconds = r.number(json, "duration_seconds", "");
    s.exit_code = static_cast<int>(r.integer(json, "exit_code", "", 0, 255));
    s.source_files = count(r, json, "source_files", "");
    s.source_snapshots = count(r, json, "source_snapshots", "");
    s.corrupt_files = r.string_list(json, "corrupt_files", "");
    s.unreadable_files = r.string_list(json, "unreadable_files", "");
    if (const Json* list = r.array(json, "destinations", ""); list != nullptr) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            s.destinations.push_back(destination_from_json(r, (*list)[i], i));
        }
    }
    TRY(r.result());
    return s;
}

util::Expected<std::optional<ReplicateStatus>>
read_replicate_status(const std::filesystem::path& state_dir) {
    return read_state_file<ReplicateStatus>(replicate_status_path(state_dir).string(),
                                            k_replicate_status_schema, replicate_status_from_json);
}

util::Expected<void> write_replicate_status(const std::filesystem::path& state_dir,
                                            const ReplicateStatus& status) {
    return util::write_json_file(replicate_status_path(state_dir).string(),
                                 replicate_status_to_json(status), 0644);
}

} // namespace backup::core
