#include "model/templates.hpp"

#include <algorithm>

namespace backup::core {

using util::ExitCode;

namespace {

bool safe_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("/._:,=+@-").find(c) != std::string_view::npos;
}

} // namespace

bool is_script_safe(std::string_view word) {
    return !word.empty() && std::all_of(word.begin(), word.end(), safe_char);
}

namespace {

bool safe_value(const TemplateValue& v) {
    if (v.kind == ValueKind::word) {
        return !v.value.empty() && std::all_of(v.value.begin(), v.value.end(), safe_char);
    }
    // words: may be empty (no flags); no leading, trailing or double spaces
    if (v.value.empty()) {
        return true;
    }
    if (v.value.front() == ' ' || v.value.back() == ' ' ||
        v.value.find("  ") != std::string::npos) {
        return false;
    }
    return std::all_of(v.value.begin(), v.value.end(),
                       [](char c) { return c == ' ' || safe_char(c); });
}

} // namespace

util::Expected<std::string> render_template(std::string_view name,
                                            const std::map<std::string, TemplateValue>& values) {
    auto it = builtin_templates().find(name);
    if (it == builtin_templates().end()) {
        return util::fail(ExitCode::permanent, "render template {}: no such template", name);
    }
    std::string_view text = it->second;
    std::string out;
    std::size_t pos = 0;
    while (true) {
        auto at = text.find('@', pos);
        if (at == std::string_view::npos) {
            out.append(text.substr(pos));
            break;
        }
        auto end = text.find('@', at + 1);
        std::string_view candidate =
            end == std::string_view::npos ? std::string_view() : text.substr(at + 1, end - at - 1);
        bool is_placeholder =
            !candidate.empty() && std::all_of(candidate.begin(), candidate.end(), [](char c) {
                return (c >= 'A' && c <= 'Z') || c == '_';
            });
        if (!is_placeholder) {
            out.append(text.substr(pos, at + 1 - pos));
            pos = at + 1;
            continue;
        }
        auto value = values.find(std::string(candidate));
        if (value == values.end()) {
            return util::fail(ExitCode::permanent, "render template {}: no value for @{}@", name,
                              candidate);
        }
        if (!safe_value(value->second)) {
            return util::fail(ExitCode::permanent,
                              "render template {}: value '{}' for @{}@ holds characters that are "
                              "not safe in a shell script (allowed: letters, digits, / . _ : , = "
                              "+ @ -)",
                              name, value->second.value, candidate);
        }
        out.append(text.substr(pos, at - pos));
        out.append(value->second.value);
        pos = end + 1;
    }
    return out;
}

} // namespace backup::core
