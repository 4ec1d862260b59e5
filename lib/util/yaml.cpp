#include "util/yaml.hpp"

#include <charconv>

#include "util/fs.hpp"
#include "util/text.hpp"

namespace backup::util {

Expected<YAML::Node> load_yaml_string(const std::string& text, const std::string& file) {
    try {
        return YAML::Load(text);
    } catch (const YAML::Exception& e) {
        std::string where = e.mark.is_null() ? file : fmt::format("{}:{}", file, e.mark.line + 1);
        return fail(ExitCode::permanent, "parse {}: {}", where, e.msg);
    }
}

Expected<YAML::Node> load_yaml_file(const std::string& path) {
    std::string text = TRY(read_file(path));
    return load_yaml_string(text, path);
}

void ConfigProblems::add(const YAML::Mark& mark, std::string_view key_path, std::string_view what) {
    std::string where = mark.is_null() ? m_file : fmt::format("{}:{}", m_file, mark.line + 1);
    if (key_path.empty()) {
        m_messages.push_back(fmt::format("{}: {}", where, what));
    } else {
        m_messages.push_back(fmt::format("{}: key '{}': {}", where, key_path, what));
    }
}

Expected<void> ConfigProblems::result() const {
    if (m_messages.empty()) {
        return {};
    }
    std::vector<std::string> messages;
    for (const auto& m : m_messages) {
        messages.push_back(fmt::format("unable to load configuration {}", m));
    }
    return std::unexpected(Error::several(ExitCode::permanent, std::move(messages)));
}

YamlMap::YamlMap(const YAML::Node& node, std::string key_path, ConfigProblems& problems)
    : m_node(node), m_key_path(std::move(key_path)), m_problems(&problems) {
    if (m_node && !m_node.IsNull() && !m_node.IsMap()) {
        m_problems->add(m_node.Mark(), m_key_path, "expected a mapping of keys to values");
        m_node = YAML::Node();
    }
}

std::string YamlMap::child_path(std::string_view key) const {
    return m_key_path.empty() ? std::string(key) : fmt::format("{}.{}", m_key_path, key);
}

bool YamlMap::has(std::string_view key) const {
    if (!m_node || !m_node.IsMap()) {
        return false;
    }
    for (const auto& item : m_node) {
        if (item.first.IsScalar() && item.first.Scalar() == key) {
            return true;
        }
    }
    return false;
}

bool YamlMap::is_scalar(std::string_view key) const {
    if (!m_node || !m_node.IsMap()) {
        return false;
    }
    for (const auto& item : m_node) {
        if (item.first.IsScalar() && item.first.Scalar() == key) {
            return item.second.IsScalar();
        }
    }
    return false;
}

YAML::Node YamlMap::lookup(std::string_view key) {
    m_seen.emplace(key);
    if (!m_node || !m_node.IsMap()) {
        return YAML::Node(YAML::NodeType::Undefined);
    }
    for (const auto& item : m_node) {
        if (item.first.IsScalar() && item.first.Scalar() == key) {
            return item.second;
        }
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

void YamlMap::problem(std::string_view key, std::string_view what) {
    YAML::Node at = key.empty() ? m_node : lookup(key);
    m_problems->add(at ? at.Mark() : m_node.Mark(), key.empty() ? m_key_path : child_path(key),
                    what);
}

std::optional<std::string> YamlMap::string(std::string_view key) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (!n.IsScalar()) {
        m_problems->add(n.Mark(), child_path(key), "expected a string");
        return std::nullopt;
    }
    return n.Scalar();
}

std::optional<std::int64_t> YamlMap::integer(std::string_view key, std::int64_t min,
                                             std::int64_t max) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    if (n.IsScalar()) {
        const std::string& text = n.Scalar();
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size() && value >= min && value <= max) {
            return value;
        }
    }
    m_problems->add(n.Mark(), child_path(key),
                    fmt::format("expected an integer from {} to {}", min, max));
    return std::nullopt;
}

std::optional<std::chrono::seconds> YamlMap::duration(std::string_view key, bool zero_ok) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (n.IsScalar()) {
        if (auto d = util::parse_duration(n.Scalar()); d && (d->count() > 0 || zero_ok)) {
            return *d;
        }
    }
    m_problems->add(n.Mark(), child_path(key),
                    zero_ok ? "expected 0 or a duration such as 90s, 15m, 12h or 14d"
                            : "expected a duration such as 90s, 15m, 12h or 14d");
    return std::nullopt;
}

std::optional<bool> YamlMap::boolean(std::string_view key) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (n.IsScalar()) {
        const std::string& text = n.Scalar();
        if (text == "true" || text == "yes" || text == "on") {
            return true;
        }
        if (text == "false" || text == "no" || text == "off") {
            return false;
        }
    }
    m_problems->add(n.Mark(), child_path(key), "expected true or false");
    return std::nullopt;
}

std::optional<std::vector<std::string>> YamlMap::string_list(std::string_view key) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (!n.IsSequence()) {
        m_problems->add(n.Mark(), child_path(key), "expected a list of strings");
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < n.size(); ++i) {
        if (!n[i].IsScalar()) {
            m_problems->add(n[i].Mark(), fmt::format("{}[{}]", child_path(key), i),
                            "expected a string");
            ok = false;
            continue;
        }
        out.push_back(n[i].Scalar());
    }
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

std::optional<YamlMap> YamlMap::map(std::string_view key) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (!n.IsMap()) {
        m_problems->add(n.Mark(), child_path(key), "expected a mapping of keys to values");
        return std::nullopt;
    }
    return YamlMap(n, child_path(key), *m_problems);
}

std::optional<std::vector<YamlMap>> YamlMap::map_list(std::string_view key) {
    YAML::Node n = lookup(key);
    if (!n.IsDefined() || n.IsNull()) {
        return std::nullopt;
    }
    if (!n.IsSequence()) {
        m_problems->add(n.Mark(), child_path(key), "expected a list of mappings");
        return std::nullopt;
    }
    std::vector<YamlMap> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
        out.emplace_back(n[i], fmt::format("{}[{}]", child_path(key), i), *m_problems);
    }
    return out;
}

void YamlMap::reject_unknown_keys() {
    if (!m_node || !m_node.IsMap()) {
        return;
    }
    for (const auto& item : m_node) {
        std::string key = item.first.IsScalar() ? item.first.Scalar() : std::string("?");
        if (!m_seen.contains(key)) {
            m_problems->add(item.first.Mark(), child_path(key), "unknown key");
        }
    }
}

} // namespace backup::util
