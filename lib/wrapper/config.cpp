#include "wrapper/config.hpp"

#include "util/fs.hpp"
#include "util/text.hpp"
#include "util/yaml.hpp"

#include <cerrno>
#include <sys/stat.h>

namespace backup::core {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// The retention keys and the restic forget flag each one becomes.
struct RetentionKey {
    std::string_view key;
    std::string_view flag;
    bool duration; // a restic duration ("30d"), else a count
};
constexpr RetentionKey k_retention_keys[] = {
    {"keep_last", "--keep-last", false},
    {"keep_hourly", "--keep-hourly", false},
    {"keep_daily", "--keep-daily", false},
    {"keep_weekly", "--keep-weekly", false},
    {"keep_monthly", "--keep-monthly", false},
    {"keep_yearly", "--keep-yearly", false},
    {"keep_within", "--keep-within", true},
    {"keep_within_hourly", "--keep-within-hourly", true},
    {"keep_within_daily", "--keep-within-daily", true},
    {"keep_within_weekly", "--keep-within-weekly", true},
    {"keep_within_monthly", "--keep-within-monthly", true},
    {"keep_within_yearly", "--keep-within-yearly", true},
};

std::optional<std::int64_t> duration_key(util::YamlMap& map, std::string_view key) {
    auto text = map.string(key);
    if (!text) {
        return std::nullopt;
    }
    auto duration = util::parse_duration(*text);
    if (!duration || duration->count() == 0) {
        map.problem(key, "expected a duration such as 90s, 30m, 6h or 1d");
        return std::nullopt;
    }
    return duration->count();
}

std::string non_empty_string(util::YamlMap& map, std::string_view key, std::string fallback) {
    auto value = map.string(key);
    if (!value) {
        return fallback;
    }
    if (value->empty()) {
        map.problem(key, "must not be empty");
        return fallback;
    }
    return *value;
}

std::vector<HookCommand> parse_hooks(util::YamlMap& hooks, std::string_view key) {
    std::vector<HookCommand> out;
    auto list = hooks.map_list(key);
    if (!list) {
        return out;
    }
    for (auto& item : *list) {
        HookCommand hook;
        bool has_command = item.has("command");
        auto argv = item.string_list("command");
        if (!has_command) {
            item.problem("", "expected 'command': the program and its arguments, as a list");
        } else if (argv && (argv->empty() || argv->front().empty())) {
            item.problem("command", "expected the program and its arguments, as a list");
        } else if (argv) {
            hook.argv = std::move(*argv);
        }
        hook.timeout_seconds = duration_key(item, "timeout");
        item.reject_unknown_keys();
        out.push_back(std::move(hook));
    }
    return out;
}

std::optional<Retention> parse_retention(util::YamlMap& map) {
    Retention r;
    for (const auto& k : k_retention_keys) {
        if (k.duration) {
            auto value = map.string(k.key);
            if (!value) {
                continue;
            }
            if (!is_restic_duration(*value)) {
                map.problem(k.key, "expected a restic duration such as 30d, 6m or 1y6m");
                continue;
            }
            r.keep.emplace_back(std::string(k.flag), *value);
        } else {
            auto value = map.integer(k.key, 1, 1000000);
            if (value) {
                r.keep.emplace_back(std::string(k.flag), std::to_string(*value));
            }
        }
    }
    r.prune = map.boolean("prune").value_or(false);
    r.flags = map.string_list("flags").value_or(std::vector<std::string>{});
    if (r.keep.empty()) {
        map.problem("", "expected at least one keep_* key (restic forget removes nothing "
                        "without one)");
    }
    map.reject_unknown_keys();
    return r;
}

std::optional<IoPriority> parse_ionice(util::YamlMap& map) {
    IoPriority p;
    auto cls = map.string("class").value_or("best-effort");
    if (cls == "idle") {
        p.io_class = IoClass::idle;
        p.level = 0;
    } else if (cls == "best-effort") {
        p.io_class = IoClass::best_effort;
    } else if (cls == "realtime") {
        p.io_class = IoClass::realtime;
    } else {
        map.problem("class", "expected idle, best-effort or realtime");
    }
    if (auto level = map.integer("level", 0, 7)) {
        if (p.io_class == IoClass::idle) {
            map.problem("level", "the idle class has no level");
        }
        p.level = static_cast<int>(*level);
    }
    map.reject_unknown_keys();
    return p;
}

} // namespace

bool is_restic_duration(std::string_view text) {
    if (text.empty()) {
        return false;
    }
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t digits = 0;
        while (i < text.size() && is_digit(text[i])) {
            ++i;
            ++digits;
        }
        if (digits == 0 || digits > 9 || i == text.size() ||
            std::string_view("ymdh").find(text[i]) == std::string_view::npos) {
            return false;
        }
        ++i;
    }
    return true;
}

util::Expected<WrapperConfig> parse_wrapper_config(const std::string& text,
                                                   const std::string& file) {
    YAML::Node node = TRY(util::load_yaml_string(text, file));
    util::ConfigProblems problems(file);
    util::YamlMap top(node, "", problems);
    WrapperConfig c;

    c.include_file = non_empty_string(top, "include_file", c.include_file);
    if (top.has("exclude_file")) {
        c.exclude_file = non_empty_string(top, "exclude_file", c.exclude_file);
        c.exclude_file_required = true;
    }
    c.root = non_empty_string(top, "root", c.root);
    if (!c.root.starts_with('/')) {
        top.problem("root", "expected an absolute path");
    }
    c.host = non_empty_string(top, "host", "");
    if (auto tags = top.string_list("tags")) {
        if (tags->empty()) {
            top.problem("tags", "expected at least one tag (forget is scoped to the job's tags)");
        }
        for (const auto& tag : *tags) {
            if (tag.empty() || tag.find(',') != std::string::npos) {
                top.problem("tags", fmt::format("'{}' is not a tag: a tag is not empty and has no "
                                                "',' (restic splits tags at commas)",
                                                tag));
            }
        }
        c.tags = std::move(*tags);
    }
    c.backup_flags = top.string_list("backup_flags").value_or(std::vector<std::string>{});
    c.state_dir = non_empty_string(top, "state_dir", c.state_dir);
    c.timeout_seconds = duration_key(top, "timeout");
    c.unlock_stale_locks = top.boolean("unlock_stale_locks").value_or(true);
    if (auto retention = top.map("retention")) {
        c.retention = parse_retention(*retention);
    }
    if (auto check = top.map("check")) {
        bool has_subsets = check->has("read_data_subsets");
        auto subsets = check->integer("read_data_subsets", 1, k_max_check_subsets);
        if (!has_subsets) {
            check->problem("", "expected 'read_data_subsets': how many runs read all data once");
        }
        c.check = CheckSettings{static_cast<int>(subsets.value_or(1))};
        check->reject_unknown_keys();
    }
    if (auto nice = top.integer("nice", -20, 19)) {
        c.nice = static_cast<int>(*nice);
    }
    if (auto ionice = top.map("ionice")) {
        c.io_priority = parse_ionice(*ionice);
    }
    if (auto hooks = top.map("hooks")) {
        c.before = parse_hooks(*hooks, "before");
        c.after = parse_hooks(*hooks, "after");
        c.on_failure = parse_hooks(*hooks, "on_failure");
        hooks->reject_unknown_keys();
    }
    if (auto prom = top.string("prometheus_textfile")) {
        if (!prom->ends_with(".prom") || !prom->starts_with('/')) {
            top.problem("prometheus_textfile",
                        "expected an absolute path ending in .prom (node_exporter's textfile "
                        "collector reads only *.prom)");
        }
        c.prometheus_textfile = *prom;
    }
    top.reject_unknown_keys();
    TRY(problems.result());
    return c;
}

util::Expected<WrapperConfig> load_wrapper_config(const std::string& path, bool required) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        if (!required) {
            return WrapperConfig{};
        }
        return util::fail(util::ExitCode::permanent, "read configuration {}: no such file", path);
    }
    return parse_wrapper_config(TRY(util::read_file(path)), path);
}

} // namespace backup::core
