// Reading YAML configuration files so that every problem is reported with file, line and key,
// all problems of a file at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "util/error.hpp"

namespace backup::util {

// Parses a YAML file. A syntax error names the file and line (exit code 100); an unreadable
// file is a system error naming the file.
Expected<YAML::Node> load_yaml_file(const std::string& path);
// Parses YAML text; file is the name used in messages.
Expected<YAML::Node> load_yaml_string(const std::string& text, const std::string& file);

// Problems found while reading one configuration file, each "FILE:LINE: key 'a.b': what".
class ConfigProblems {
public:
    explicit ConfigProblems(std::string file) : m_file(std::move(file)) {}
    void add(const YAML::Mark& mark, std::string_view key_path, std::string_view what);
    bool empty() const { return m_messages.empty(); }
    const std::vector<std::string>& messages() const { return m_messages; }
    const std::string& file() const { return m_file; }
    // Success when empty, else one Error (code 100) holding every problem.
    Expected<void> result() const;

private:
    std::string m_file;
    std::vector<std::string> m_messages;
};

// A view of one YAML mapping that remembers which keys were read, so that unknown keys can be
// reported. Accessors return nullopt when the key is absent or has the wrong type (the latter
// is recorded as a problem).
class YamlMap {
public:
    // A node that is not a mapping (and not null) is recorded as a problem.
    YamlMap(const YAML::Node& node, std::string key_path, ConfigProblems& problems);

    bool has(std::string_view key) const;
    // Whether key is there and holds a scalar (a key that may be a word or a mapping).
    bool is_scalar(std::string_view key) const;
    std::optional<std::string> string(std::string_view key);
    std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
    std::optional<bool> boolean(std::string_view key);
    // A positive duration such as "90s", "15m", "14d" (util::parse_duration); with zero_ok, "0"
    // too.
    std::optional<std::chrono::seconds> duration(std::string_view key, bool zero_ok = false);
    std::optional<std::vector<std::string>> string_list(std::string_view key);
    std::optional<YamlMap> map(std::string_view key);
    // A sequence of mappings.
    std::optional<std::vector<YamlMap>> map_list(std::string_view key);

    // Records every key that no accessor asked for as "unknown key".
    void reject_unknown_keys();
    // Records a problem about key (or this map when key is empty).
    void problem(std::string_view key, std::string_view what);
    const std::string& key_path() const { return m_key_path; }

private:
    std::string child_path(std::string_view key) const;
    YAML::Node lookup(std::string_view key);

    YAML::Node m_node;
    std::string m_key_path;
    ConfigProblems* m_problems;
    std::set<std::string, std::less<>> m_seen;
};

} // namespace backup::util
