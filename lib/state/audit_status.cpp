#include "state/audit_status.hpp"

#include "state/json_reader.hpp"
#include "util/dir.hpp"

namespace backup::core {

using util::Json;

namespace {

constexpr std::string_view k_prefix = "audit-";
constexpr std::string_view k_status_suffix = ".json";
constexpr std::string_view k_state_suffix = ".state.json";

Json coverage_json(const std::optional<AuditCoverage>& coverage) {
    if (!coverage) {
        return nullptr;
    }
    return {{"started", coverage->started}, {"finished", coverage->finished}};
}

std::uint64_t count(JsonFields& r, const Json& json, std::string_view key,
                    std::string_view context = "") {
    return static_cast<std::uint64_t>(r.integer(json, key, context, 0, INT64_MAX));
}

void read_cycle(JsonFields& r, const Json& json, AuditStatus& s) {
    const Json* cycle = r.object(json, "cycle", "");
    if (cycle == nullptr) {
        return;
    }
    s.cycle_length = static_cast<int>(r.integer(*cycle, "length", "cycle", 1, 1'000'000));
    s.position = static_cast<int>(r.integer(*cycle, "position", "cycle", 0, 1'000'000));
    s.slot_finished = r.boolean(*cycle, "slot_finished", "cycle");
    s.next_position = static_cast<int>(r.integer(*cycle, "next_position", "cycle", 0, 1'000'000));
}

void read_findings(JsonFields& r, const Json& json, AuditStatus& s) {
    const Json* list = r.array(json, "findings", "");
    if (list == nullptr) {
        return;
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
        std::string at = fmt::format("findings[{}]", i);
        const Json& f = (*list)[i];
        s.findings.push_back(
            {r.string(f, "path", at), r.string(f, "kind", at), r.string(f, "message", at)});
    }
}

void read_counts(JsonFields& r, const Json& json, AuditStatus& s) {
    s.files_listed = count(r, json, "files_listed");
    s.files_selected = count(r, json, "files_selected");
    s.files_checked = count(r, json, "files_checked");
    s.bytes_checked = count(r, json, "bytes_checked");
    s.files_vanished = count(r, json, "files_vanished");
    s.files_unreadable = count(r, json, "files_unreadable");
    s.files_left = count(r, json, "files_left");
    s.bytes_left = count(r, json, "bytes_left");
    s.temporary_files = count(r, json, "temporary_files");
}

} // namespace

std::filesystem::path audit_status_path(const std::filesystem::path& state_dir,
                                        std::string_view label) {
    return state_dir / fmt::format("{}{}{}", k_prefix, label, k_status_suffix);
}

std::filesystem::path audit_state_path(const std::filesystem::path& state_dir,
                                       std::string_view label) {
    return state_dir / fmt::format("{}{}{}", k_prefix, label, k_state_suffix);
}

std::filesystem::path audit_lock_path(const std::filesystem::path& state_dir,
                                      std::string_view label) {
    return state_dir / fmt::format("{}{}.lock", k_prefix, label);
}

util::Expected<std::vector<std::string>>
audit_status_labels(const std::filesystem::path& state_dir) {
    auto entries = TRY(util::read_directory(state_dir.string(), util::IfMissing::empty));
    std::vector<std::string> labels;
    for (const auto& e : entries) {
        std::string_view name = e.name;
        if (e.type != util::EntryType::regular || !name.starts_with(k_prefix) ||
            !name.ends_with(k_status_suffix) || name.ends_with(k_state_suffix)) {
            continue;
        }
        name.remove_prefix(k_prefix.size());
        name.remove_suffix(k_status_suffix.size());
        if (!name.empty()) {
            labels.emplace_back(name);
        }
    }
    return labels;
}

Json audit_status_to_json(const AuditStatus& s) {
    Json findings = Json::array();
    for (const auto& f : s.findings) {
        findings.push_back({{"path", f.path}, {"kind", f.kind}, {"message", f.message}});
    }
    return Json{
        {"schema", k_audit_status_schema},
        {"repository", s.repository},
        {"client", s.client ? Json(*s.client) : Json(nullptr)},
        {"label", s.label},
        {"started", s.started},
        {"finished", s.finished},
        {"duration_seconds", s.duration_seconds},
        {"result", s.result},
        {"exit_code", s.exit_code},
        {"mode", s.mode},
        {"cycle",
         {{"length", s.cycle_length},
          {"position", s.position},
          {"slot_finished", s.slot_finished},
          {"next_position", s.next_position}}},
        {"files_listed", s.files_listed},
        {"files_selected", s.files_selected},
        {"files_checked", s.files_checked},
        {"bytes_checked", s.bytes_checked},
        {"files_vanished", s.files_vanished},
        {"files_unreadable", s.files_unreadable},
        {"files_left", s.files_left},
        {"bytes_left", s.bytes_left},
        {"temporary_files", s.temporary_files},
        {"findings", std::move(findings)},
        {"errors", s.errors},
        {"notes", s.notes},
        {"last_full_coverage", coverage_json(s.last_full_coverage)},
    };
}

util::Expected<AuditStatus> audit_status_from_json(const Json& json, std::string_view what) {
    JsonFields r{std::string(what)};
    if (!r.schema(json, k_audit_status_schema)) {
        return std::unexpected(r.result().error());
    }
    AuditStatus s;
    s.repository = r.string(json, "repository", "");
    s.client = r.optional_string(json, "client", "");
    s.label = r.string(json, "label", "");
    s.started = r.time(json, "started", "");
    s.finished = r.time(json, "finished", "");
    s.duration_seconds = r.number(json, "duration_seconds", "");
    s.result = r.string(json, "result", "");
    if (s.result != "clean" && s.result != "findings" && s.result != "error") {
        r.problem("result", "expected clean, findings or error");
    }
    s.exit_code = static_cast<int>(r.integer(json, "exit_code", "", 0, 255));
    s.mode = r.string(json, "mode", "");
    read_cycle(r, json, s);
    read_counts(r, json, s);
    read_findings(r, json, s);
    s.errors = r.string_list(json, "errors", "");
    s.notes = r.string_list(json, "notes", "");
    if (const Json* c = r.object(json, "last_full_coverage", "", true)) {
        s.last_full_coverage = AuditCoverage{r.time(*c, "started", "last_full_coverage"),
                                             r.time(*c, "finished", "last_full_coverage")};
    }
    TRY(r.result());
    return s;
}

util::Expected<std::optional<AuditStatus>> read_audit_status(const std::filesystem::path& state_dir,
                                                             std::string_view label) {
    return read_state_file<AuditStatus>(audit_status_path(state_dir, label).string(),
                                        k_audit_status_schema, audit_status_from_json);
}

util::Expected<void> write_audit_status(const std::filesystem::path& state_dir,
                                        const AuditStatus& status) {
    return util::write_json_file(audit_status_path(state_dir, status.label).string(),
                                 audit_status_to_json(status), 0644);
}

} // namespace backup::core
