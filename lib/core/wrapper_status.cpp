#include "core/wrapper_status.hpp"

#include "util/fs.hpp"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>

namespace backup::core {

namespace {

util::Json optional_json(const std::optional<std::string>& value) {
    return value ? util::Json(*value) : util::Json(nullptr);
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool file_missing(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

} // namespace

std::string format_status_time(std::int64_t seconds) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<std::int64_t> parse_status_time(std::string_view text) {
    if (text.size() != 20) {
        return std::nullopt;
    }
    std::tm tm{};
    int consumed = 0;
    std::string copy(text);
    if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
                    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
        consumed != 20) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    std::int64_t seconds = ::timegm(&tm);
    // timegm normalises out-of-range fields; only a time that formats back is valid.
    if (format_status_time(seconds) != text) {
        return std::nullopt;
    }
    return seconds;
}

std::string redact_repository(std::string_view location) {
    auto scheme = location.find("://");
    if (scheme == std::string_view::npos) {
        return std::string(location);
    }
    auto host_start = scheme + 3;
    auto slash = location.find('/', host_start);
    auto at = location.rfind('@', slash == std::string_view::npos ? location.size() : slash);
    if (at == std::string_view::npos || at < host_start) {
        return std::string(location);
    }
    return fmt::format("{}{}", location.substr(0, host_start), location.substr(at + 1));
}

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
        {"started", format_status_time(a.started)},
        {"finished", a.finished ? util::Json(format_status_time(*a.finished)) : util::Json()},
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

util::Json status_to_json(const WrapperStatus& status) {
    return {
        {"schema", k_wrapper_status_schema},
        {"host", status.host},
        {"repository", status.repository},
        {"last_attempt", attempt_to_json(status.last_attempt)},
        {"last_success", status.last_success ? *status.last_success : util::Json()},
    };
}

util::Expected<std::optional<util::Json>> read_last_success(const std::string& path) {
    if (file_missing(path)) {
        return std::optional<util::Json>{};
    }
    auto value = util::read_json_file(path);
    if (!value) {
        return std::unexpected(value.error());
    }
    auto bad = [&](std::string_view why) {
        return util::fail(util::ExitCode::permanent, "read status file {}: {}", path, why);
    };
    if (!value->is_object()) {
        return bad("not a JSON object");
    }
    auto schema = value->find("schema");
    if (schema == value->end() || !schema->is_number_integer() ||
        schema->get<int>() != k_wrapper_status_schema) {
        return bad(
            fmt::format("not schema {} (written by another version?)", k_wrapper_status_schema));
    }
    auto last = value->find("last_success");
    if (last == value->end() || last->is_null()) {
        return std::optional<util::Json>{};
    }
    if (!last->is_object() || !last->contains("finished") || !(*last)["finished"].is_string() ||
        !parse_status_time((*last)["finished"].get<std::string>())) {
        return bad("'last_success' is not an attempt with a 'finished' time");
    }
    return std::optional<util::Json>(*last);
}

std::string render_wrapper_prometheus(const WrapperStatus& status) {
    std::string label = fmt::format("host=\"{}\"", label_value(status.host));
    std::string out;
    auto gauge = [&](std::string_view name, std::string_view help, auto value) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}{{{}}} {}\n", name, help, name, name,
                           label, value);
    };
    const AttemptRecord& a = status.last_attempt;
    gauge("restic_wrapper_last_attempt_timestamp_seconds",
          "Start of the last daily job (Unix time).", a.started);
    gauge("restic_wrapper_last_attempt_duration_seconds", "Duration of the last daily job.",
          a.duration_seconds);
    gauge("restic_wrapper_last_exit_code",
          "Exit code of the last daily job (0 ok, 1 findings, 100 permanent, 111 temporary; "
          "-1 while running).",
          a.exit_code.value_or(-1));
    gauge("restic_wrapper_running", "1 while a daily job runs.", a.finished ? 0 : 1);
    if (status.last_success) {
        auto finished = parse_status_time((*status.last_success)["finished"].get<std::string>());
        if (finished) {
            gauge("restic_wrapper_last_success_timestamp_seconds",
                  "End of the last daily job that succeeded (Unix time).", *finished);
        }
    }
    if (a.summary) {
        auto number = [&](const char* key) -> std::int64_t {
            auto it = a.summary->find(key);
            return it != a.summary->end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
        };
        gauge("restic_wrapper_last_files_new", "Files new in the last snapshot.",
              number("files_new"));
        gauge("restic_wrapper_last_files_changed", "Files changed in the last snapshot.",
              number("files_changed"));
        gauge("restic_wrapper_last_data_added_bytes",
              "Bytes added to the repository by the last snapshot (before compression).",
              number("data_added"));
    }
    gauge("restic_wrapper_last_unreadable_files",
          "Paths the last backup could not read (missing from its snapshot).", a.unreadable.size());
    return out;
}

CheckRotation current_check_rotation(const std::optional<CheckRotation>& saved, int subsets) {
    if (saved && saved->subsets == subsets && saved->next >= 1 && saved->next <= subsets) {
        return *saved;
    }
    return {subsets, 1};
}

CheckRotation advance_check_rotation(CheckRotation rotation) {
    rotation.next = rotation.next >= rotation.subsets ? 1 : rotation.next + 1;
    return rotation;
}

util::Expected<std::optional<CheckRotation>> read_check_rotation(const std::string& path) {
    if (file_missing(path)) {
        return std::optional<CheckRotation>{};
    }
    auto value = util::read_json_file(path);
    if (!value) {
        return std::unexpected(value.error());
    }
    auto integer = [&](const char* key) -> std::optional<int> {
        if (!value->is_object()) {
            return std::nullopt;
        }
        auto it = value->find(key);
        if (it == value->end() || !it->is_number_integer()) {
            return std::nullopt;
        }
        return it->get<int>();
    };
    auto schema = integer("schema");
    auto subsets = integer("read_data_subsets");
    auto next = integer("next");
    if (schema != k_wrapper_check_schema || !subsets || !next || *subsets < 1 ||
        *subsets > k_max_check_subsets || *next < 1 || *next > *subsets) {
        return util::fail(util::ExitCode::permanent,
                          "read {}: expected {{\"schema\": {}, \"read_data_subsets\": t, "
                          "\"next\": n}} with 1 <= n <= t <= {}",
                          path, k_wrapper_check_schema, k_max_check_subsets);
    }
    return std::optional<CheckRotation>(CheckRotation{*subsets, *next});
}

util::Expected<void> write_check_rotation(const std::string& path, const CheckRotation& rotation) {
    util::Json value = {{"schema", k_wrapper_check_schema},
                        {"read_data_subsets", rotation.subsets},
                        {"next", rotation.next}};
    return util::write_json_file(path, value, 0644);
}

} // namespace backup::core
