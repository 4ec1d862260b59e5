#include "core/audit_state.hpp"

#include <cerrno>
#include <ctime>
#include <sys/stat.h>

namespace backup::core {

using util::ExitCode;
using util::Json;

std::string format_utc(std::chrono::system_clock::time_point time) {
    auto since_epoch =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    // Floor division, so that times before the epoch print correctly too.
    std::int64_t seconds = since_epoch / 1000 - (since_epoch % 1000 < 0 ? 1 : 0);
    std::int64_t millis = since_epoch - seconds * 1000;
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

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

// Reads the keys of one JSON object, collecting every problem so that all are reported at once.
class Reader {
public:
    Reader(std::string_view what, std::vector<std::string>& problems)
        : m_what(what), m_problems(problems) {}

    const Json* get(const Json& object, std::string_view key, std::string_view context) {
        if (!object.is_object()) {
            problem(context, "expected an object");
            return nullptr;
        }
        auto it = object.find(std::string(key));
        if (it == object.end()) {
            problem(join(context, key), "missing");
            return nullptr;
        }
        return &*it;
    }

    std::string string(const Json& object, std::string_view key, std::string_view context) {
        const Json* value = get(object, key, context);
        if (value == nullptr) {
            return {};
        }
        if (!value->is_string()) {
            problem(join(context, key), "expected a string");
            return {};
        }
        return value->get<std::string>();
    }

    std::optional<std::string> optional_string(const Json& object, std::string_view key,
                                               std::string_view context) {
        const Json* value = get(object, key, context);
        if (value == nullptr || value->is_null()) {
            return std::nullopt;
        }
        if (!value->is_string()) {
            problem(join(context, key), "expected a string or null");
            return std::nullopt;
        }
        return value->get<std::string>();
    }

    int integer(const Json& object, std::string_view key, std::string_view context, int min,
                int max) {
        const Json* value = get(object, key, context);
        if (value == nullptr) {
            return min;
        }
        if (!value->is_number_integer() || value->get<std::int64_t>() < min ||
            value->get<std::int64_t>() > max) {
            problem(join(context, key), fmt::format("expected an integer from {} to {}", min, max));
            return min;
        }
        return value->get<int>();
    }

    std::optional<AuditCoverage> coverage(const Json& object, std::string_view key,
                                          std::string_view context) {
        const Json* value = get(object, key, context);
        if (value == nullptr || value->is_null()) {
            return std::nullopt;
        }
        std::string inner = join(context, key);
        AuditCoverage c;
        c.started = string(*value, "started", inner);
        c.finished = string(*value, "finished", inner);
        return c;
    }

    void problem(std::string_view key, std::string_view what) {
        m_problems.push_back(fmt::format("read {}: key '{}': {}", m_what, key, what));
    }

private:
    static std::string join(std::string_view context, std::string_view key) {
        return context.empty() ? std::string(key) : fmt::format("{}.{}", context, key);
    }

    std::string_view m_what;
    std::vector<std::string>& m_problems;
};

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
          {"cycle_started", optional_string(state.rotation.cycle_started)}}},
        {"full", full},
        {"last_full_coverage", coverage_to_json(state.last_full_coverage)},
        {"last_run", state.last_run},
    };
}

util::Expected<AuditState> audit_state_from_json(const Json& json, std::string_view what) {
    std::vector<std::string> problems;
    Reader r(what, problems);
    AuditState s;
    if (!json.is_object()) {
        return util::fail(ExitCode::permanent, "read {}: expected a JSON object", what);
    }
    auto schema = json.find("schema");
    if (schema == json.end() || !schema->is_number_integer()) {
        return util::fail(ExitCode::permanent, "read {}: missing or invalid schema number", what);
    }
    if (schema->get<std::int64_t>() != k_audit_state_schema) {
        return util::fail(ExitCode::permanent,
                          "read {}: schema {} is not supported (this version reads {})", what,
                          schema->dump(), k_audit_state_schema);
    }
    s.repository = r.string(json, "repository", "");
    if (const Json* rotation = r.get(json, "rotation", ""); rotation != nullptr) {
        s.rotation.length = r.integer(*rotation, "length", "rotation", 0, 1'000'000);
        s.rotation.position = r.integer(*rotation, "position", "rotation", 0, 1'000'000);
        s.rotation.resume_after = r.optional_string(*rotation, "resume_after", "rotation");
        s.rotation.cycle_started = r.optional_string(*rotation, "cycle_started", "rotation");
        if (s.rotation.position > 0 && s.rotation.position >= s.rotation.length) {
            r.problem("rotation.position", fmt::format("{} is outside a cycle of {}",
                                                       s.rotation.position, s.rotation.length));
        }
    }
    if (const Json* full = r.get(json, "full", ""); full != nullptr && !full->is_null()) {
        AuditFullPass pass;
        pass.started = r.string(*full, "started", "full");
        pass.resume_after = r.string(*full, "resume_after", "full");
        s.full = std::move(pass);
    }
    s.last_full_coverage = r.coverage(json, "last_full_coverage", "");
    s.last_run = r.string(json, "last_run", "");
    if (!problems.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return s;
}

util::Expected<std::optional<AuditState>> read_audit_state(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::optional<AuditState>();
        }
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    auto json = util::read_json_file(path);
    if (!json) {
        return std::unexpected(json.error());
    }
    auto state = audit_state_from_json(*json, path);
    if (!state) {
        return std::unexpected(state.error());
    }
    return std::optional<AuditState>(std::move(*state));
}

util::Expected<void> write_audit_state(const std::string& path, const AuditState& state) {
    return util::write_json_file(path, audit_state_to_json(state), 0644);
}

} // namespace backup::core
