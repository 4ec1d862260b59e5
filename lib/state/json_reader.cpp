#include "state/json_reader.hpp"

#include <cerrno>
#include <sys/stat.h>

#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Json;

std::string join_key(std::string_view context, std::string_view key) {
    return context.empty() ? std::string(key) : fmt::format("{}.{}", context, key);
}

util::Expected<std::optional<Json>> read_state_json(const std::string& path, int schema) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::optional<Json>();
        }
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    Json json = TRY(util::read_json_file(path));
    if (!json.is_object()) {
        return util::fail(ExitCode::permanent, "read {}: not a JSON object", path);
    }
    auto found = json.find("schema");
    if (found == json.end() || !found->is_number_integer()) {
        return util::fail(ExitCode::permanent, "read {}: no schema number", path);
    }
    if (found->get<std::int64_t>() != schema) {
        return util::fail(ExitCode::permanent,
                          "read {}: schema {} is not supported (this version reads {})", path,
                          found->dump(), schema);
    }
    return std::optional<Json>(std::move(json));
}

bool JsonFields::schema(const Json& json, int schema) {
    if (!json.is_object()) {
        problem("", "not a JSON object");
        return false;
    }
    auto found = json.find("schema");
    if (found == json.end() || !found->is_number_integer()) {
        problem("schema", "no schema number");
        return false;
    }
    if (found->get<std::int64_t>() != schema) {
        problem("schema", fmt::format("schema {} is not supported (this version reads {})",
                                      found->dump(), schema));
        return false;
    }
    return true;
}

void JsonFields::problem(std::string_view key, std::string_view what) {
    m_problems.push_back(key.empty() ? fmt::format("read {}: {}", m_file, what)
                                     : fmt::format("read {}: key '{}': {}", m_file, key, what));
}

util::Expected<void> JsonFields::result() const {
    if (m_problems.empty()) {
        return {};
    }
    return std::unexpected(util::Error::several(ExitCode::permanent, m_problems));
}

const Json* JsonFields::get(const Json& object, std::string_view key, std::string_view context) {
    if (!object.is_object()) {
        problem(context, "expected an object");
        return nullptr;
    }
    auto it = object.find(std::string(key));
    if (it == object.end()) {
        problem(join_key(context, key), "missing");
        return nullptr;
    }
    return &*it;
}

std::string JsonFields::string(const Json& object, std::string_view key, std::string_view context) {
    const Json* value = get(object, key, context);
    if (value == nullptr) {
        return {};
    }
    if (!value->is_string()) {
        problem(join_key(context, key), "expected a string");
        return {};
    }
    return value->get<std::string>();
}

std::optional<std::string> JsonFields::optional_string(const Json& object, std::string_view key,
                                                       std::string_view context) {
    const Json* value = get(object, key, context);
    if (value == nullptr || value->is_null()) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        problem(join_key(context, key), "expected a string or null");
        return std::nullopt;
    }
    return value->get<std::string>();
}

std::string JsonFields::time(const Json& object, std::string_view key, std::string_view context) {
    std::string text = string(object, key, context);
    if (!text.empty() && !util::parse_time(text)) {
        problem(join_key(context, key), "expected a UTC time like 2024-05-01T03:00:00.000Z");
    }
    return text;
}

std::optional<std::string> JsonFields::optional_time(const Json& object, std::string_view key,
                                                     std::string_view context) {
    auto text = optional_string(object, key, context);
    if (text && !util::parse_time(*text)) {
        problem(join_key(context, key), "expected a UTC time like 2024-05-01T03:00:00.000Z");
        return std::nullopt;
    }
    return text;
}

std::int64_t JsonFields::integer(const Json& object, std::string_view key, std::string_view context,
                                 std::int64_t min, std::int64_t max) {
    const Json* value = get(object, key, context);
    if (value == nullptr) {
        return min;
    }
    if (!value->is_number_integer() || value->get<std::int64_t>() < min ||
        value->get<std::int64_t>() > max) {
        problem(join_key(context, key), fmt::format("expected an integer from {} to {}", min, max));
        return min;
    }
    return value->get<std::int64_t>();
}

double JsonFields::number(const Json& object, std::string_view key, std::string_view context) {
    const Json* value = get(object, key, context);
    if (value == nullptr) {
        return 0;
    }
    if (!value->is_number()) {
        problem(join_key(context, key), "expected a number");
        return 0;
    }
    return value->get<double>();
}

bool JsonFields::boolean(const Json& object, std::string_view key, std::string_view context) {
    const Json* value = get(object, key, context);
    if (value == nullptr) {
        return false;
    }
    if (!value->is_boolean()) {
        problem(join_key(context, key), "expected true or false");
        return false;
    }
    return value->get<bool>();
}

const Json* JsonFields::array(const Json& object, std::string_view key, std::string_view context) {
    const Json* value = get(object, key, context);
    if (value != nullptr && !value->is_array()) {
        problem(join_key(context, key), "expected an array");
        return nullptr;
    }
    return value;
}

std::vector<std::string> JsonFields::string_list(const Json& object, std::string_view key,
                                                 std::string_view context) {
    std::vector<std::string> out;
    const Json* list = array(object, key, context);
    if (list == nullptr) {
        return out;
    }
    for (const auto& item : *list) {
        if (!item.is_string()) {
            problem(join_key(context, key), fmt::format("holds {}, not a string", item.dump()));
            continue;
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

const Json* JsonFields::object(const Json& parent, std::string_view key, std::string_view context,
                               bool null_ok) {
    const Json* value = get(parent, key, context);
    if (value == nullptr || (null_ok && value->is_null())) {
        return nullptr;
    }
    if (!value->is_object()) {
        problem(join_key(context, key),
                null_ok ? "expected an object or null" : "expected an object");
        return nullptr;
    }
    return value;
}

} // namespace backup::core
