#include "state/wrapper_status.hpp"

#include "state/json_reader.hpp"
#include "util/time.hpp"

namespace backup::core {

namespace {

util::Json optional_json(const std::optional<std::string>& value) {
    return value ? util::Json(*value) : util::Json(nullptr);
}

} // namespace

util::Json attempt_to_json(const AttemptRecord& a) {
    util::Json unreadable = util::Json::array();
    for (const auto& u : a.unreadable) {
        unreadable.push_back({{"path", u.path}, {"message", u.message}});
    }
    util::Json steps = util::Json::array();
    for (const auto& s : a.steps) {
        steps.push_back({{"name", s.name},
                         {"exit_code", s.exit_code ? util::Json(*s.exit_code) : util::Json()},
                         {"ended", s.ended},
                         {"duration_seconds", s.duration_seconds}});
    }
    return {
        {"started", util::format_time(a.started)},
        {"finished", a.finished ? util::Json(util::format_time(*a.finished)) : util::Json()},
        {"duration_seconds", a.duration_seconds},
        {"result", a.result},
        {"exit_code", a.exit_code ? util::Json(*a.exit_code) : util::Json()},
        {"errors", a.errors},
        {"warnings", a.warnings},
        {"snapshot_id", optional_json(a.snapshot_id)},
        {"summary", a.summary ? *a.summary : util::Json()},
        {"unreadable", unreadable},
        {"check_subset", optional_json(a.check_subset)},
        {"steps", steps},
    };
}

util::Json wrapper_status_to_json(const WrapperStatus& status) {
    return {
        {"schema", k_wrapper_status_schema},
        {"host", status.host},
        {"repository", status.repository},
        {"last_attempt", attempt_to_json(status.last_attempt)},
        {"last_success", status.last_success ? *status.last_success : util::Json()},
    };
}

util::Expected<void> write_wrapper_status(const std::string& path, const WrapperStatus& status) {
    return util::write_json_file(path, wrapper_status_to_json(status), 0644);
}

std::optional<std::int64_t> attempt_finished(const util::Json& attempt) {
    auto finished = attempt.find("finished");
    if (!attempt.is_object() || finished == attempt.end() || !finished->is_string()) {
        return std::nullopt;
    }
    return util::parse_unix_time(finished->get<std::string>());
}

util::Expected<std::optional<util::Json>> read_last_success(const std::string& path) {
    auto value = TRY(read_state_json(path, k_wrapper_status_schema));
    if (!value) {
        return std::optional<util::Json>{};
    }
    auto last = value->find("last_success");
    if (last == value->end() || last->is_null()) {
        return std::optional<util::Json>{};
    }
    if (!attempt_finished(*last)) {
        return util::fail(util::ExitCode::permanent,
                          "read status file {}: 'last_success' is not an attempt with a "
                          "'finished' time",
                          path);
    }
    return std::optional<util::Json>(*last);
}

} // namespace backup::core
