#include "unroll/patterns.hpp"

#include "unroll/tree_path.hpp"
#include "util/text.hpp"

namespace backup::core {

namespace {

// The start of the last rune of s (non-empty), as utf8.DecodeLastRuneInString finds it.
std::size_t last_rune_start(std::string_view s) {
    std::size_t end = s.size();
    if (static_cast<unsigned char>(s[end - 1]) < 0x80) {
        return end - 1;
    }
    std::size_t limit = end >= 4 ? end - 4 : 0;
    std::size_t start = end - 1;
    while (start > limit && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) {
        --start;
    }
    util::Rune rune = util::decode_rune(s, start);
    return rune.valid && start + rune.size == end ? start : end - 1;
}

// unicode.IsSpace: the characters strings.TrimSpace removes.
bool is_go_space(char32_t r) {
    switch (r) {
    case U'\t':
    case U'\n':
    case U'\v':
    case U'\f':
    case U'\r':
    case U' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200a;
    }
}

bool component_matches(const ComponentPattern& pattern, std::string_view name) {
    std::size_t at = 0;
    for (const Token& token : pattern) {
        if (at >= name.size()) {
            return false;
        }
        if (token.wildcard) {
            at += util::decode_rune(name, at).size;
        } else if (name[at] != token.byte) {
            return false;
        } else {
            ++at;
        }
    }
    return at == name.size();
}

void escape_bytes(std::string_view bytes, ExcludePattern& out) {
    for (char c : bytes) {
        switch (c) {
        case '*':
        case '?':
        case '[':
        case ']':
        case '\\':
            out.text += '\\';
            out.text += c;
            break;
        case '\n': // restic reads the file line by line
        case '$':  // restic expands $VAR and ${VAR}; "$$" is not understood by every version
            out.text += '?';
            out.has_wildcard = true;
            break;
        default:
            out.text += c;
        }
    }
}

} // namespace

std::vector<ComponentPattern> parse_pattern(std::string_view pattern) {
    std::vector<ComponentPattern> components;
    ComponentPattern current;
    bool started = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '/') {
            if (started) {
                components.push_back(std::move(current));
                current.clear();
            }
            started = true;
        } else if (c == '\\' && i + 1 < pattern.size()) {
            current.push_back({false, pattern[++i]});
        } else if (c == '?') {
            current.push_back({true, 0});
        } else {
            current.push_back({false, c});
        }
    }
    if (started && !current.empty()) {
        components.push_back(std::move(current));
    }
    return components;
}

bool leading_components_match(const std::vector<ComponentPattern>& pattern,
                              const std::vector<std::string_view>& path, std::size_t count) {
    if (count > pattern.size() || count > path.size()) {
        return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (!component_matches(pattern[i], path[i])) {
            return false;
        }
    }
    return true;
}

ExcludePattern escape_path(std::string_view path, bool line_end) {
    auto components = split_components(path);
    if (components.empty()) {
        return ExcludePattern{std::string(1, '/'), false};
    }
    ExcludePattern out;
    for (std::size_t i = 0; i < components.size(); ++i) {
        std::string_view name = components[i];
        out.text += '/';
        if (line_end && i + 1 == components.size()) {
            std::size_t start = last_rune_start(name);
            util::Rune last = util::decode_rune(name, start);
            if (last.valid && start + last.size == name.size() && is_go_space(last.value)) {
                escape_bytes(name.substr(0, start), out);
                out.text += '?';
                out.has_wildcard = true;
                continue;
            }
        }
        escape_bytes(name, out);
    }
    return out;
}

ExcludePattern exclude_pattern(std::string_view absolute_path) {
    return escape_path(absolute_path, true);
}

bool pattern_matches(std::string_view pattern, std::string_view absolute_path) {
    auto parsed = parse_pattern(pattern);
    auto path = split_components(absolute_path);
    return leading_components_match(parsed, path, parsed.size());
}

std::string render_excludes(const UnrollResult& result) {
    std::string out;
    for (const auto& pattern : result.excludes) {
        out += pattern;
        out += '\n';
    }
    return out;
}

} // namespace backup::core
