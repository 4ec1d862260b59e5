#include "state/audit_state.hpp"

#include "state/json_reader.hpp"

namespace backup::core {

using util::ExitCode;
using util::Json;

namespace {

Json optional_string(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

Json coverage_to_json(const std::optional<AuditCoverage>& coverage) {
    if (!coverage) {
        return nullptr;
    }
    return Json{{"started", coverage->started}, {"finished", coverage->finished}};
}

std::optional<AuditCoverage> coverage_from_json(JsonFields& r, const Json& json,
                                                std::string_view key) {
    const Json* value = r.object(json, key, "", true);
    if (value == nullptr) {
        return std::nullopt;
    }
    std::string context(key);
    return AuditCoverage{r.time(*value, "started", context), r.time(*value, "finished", context)};
}

} // namespace

Json audit_state_to_json(const AuditState& state) {
    Json full = nullptr;
    if (state.full) {
        full = Json{{"started", state.full->started}, {"resume_after", state.full->resume_after}};
    }
    return Json{
        {"schema", k_audit_state_schema},
        {"repository", state.repository},
        {"rotation",
         {{"length", state.rotation.length},
          {"position", state.rotation.position},
          {"resume_after", optional_string(state.rotation.resume_after)},
          {"cycle_started", optional_string(state.rotation.cycle_started)},
          {"incomplete", state.rotation.incomplete}}},
        {"full", full},
        {"last_full_coverage", coverage_to_json(state.last_full_coverage)},
        {"last_run", state.last_run},
    };
}

util::Expected<AuditState> audit_state_from_json(const Json& json, std::string_view what) {
    JsonFields r{std::string(what)};
    if (!r.schema(json, k_audit_state_schema)) {
        return std::unexpected(r.result().error());
    }
    AuditState s;
    s.repository = r.string(json, "repository", "");
    if (const Json* rotation = r.object(json, "rotation", ""); rotation != nullptr) {
        s.rotation.length =
            static_cast<int>(r.integer(*rotation, "length", "rotation", 0, 1'000'000));
        s.rotation.position =
            static_cast<int>(r.integer(*rotation, "position", "rotation", 0, 1'000'000));
        s.rotation.resume_after = r.optional_string(*rotation, "resume_after", "rotation");
        s.rotation.cycle_started = r.optional_time(*rotation, "cycle_started", "rotation");
        // Absent in the files of earlier versions.
        s.rotation.incomplete =
            rotation->contains("incomplete") && r.boolean(*rotation, "incomplete", "rotation");
        if (s.rotation.position > 0 && s.rotation.position >= s.rotation.length) {
            r.problem("rotation.position", fmt::format("{} is outside a cycle of {}",
                                                       s.rotation.position, s.rotation.length));
        }
    }
    if (const Json* full = r.object(json, "full", "", true); full != nullptr) {
        s.full = AuditFullPass{r.time(*full, "started", "full"),
                               r.string(*full, "resume_after", "full")};
    }
    s.last_full_coverage = coverage_from_json(r, json, "last_full_coverage");
    s.last_run = r.string(json, "last_run", "");
    TRY(r.result());
    return s;
}

util::Expected<std::optional<AuditState>> read_audit_state(const std::string& path) {
    return read_state_file<AuditState>(path, k_audit_state_schema, audit_state_from_json);
}

util::Expected<void> write_audit_state(const std::string& path, const AuditState& state) {
    return util::write_json_file(path, audit_state_to_json(state), 0644);
}

} // namespace backup::core
