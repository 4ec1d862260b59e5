#include "model/environ.hpp"

namespace backup::core {

namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool blank(char c) { return c == ' ' || c == '\t'; }

// Parses one line; returns an empty name for a blank or comment line. Throws nothing: errors
// come back as the message.
util::Expected<EnvAssignment> parse_line(std::string_view line) {
    auto bad = [](std::string_view why) {
        return std::unexpected(util::Error(util::ExitCode::permanent, std::string(why)));
    };
    std::size_t i = 0;
    while (i < line.size() && blank(line[i])) {
        ++i;
    }
    if (i == line.size() || line[i] == '#') {
        return EnvAssignment{};
    }
    if (line.substr(i, 7) == "export " || line.substr(i, 7) == "export\t") {
        i += 7;
        while (i < line.size() && blank(line[i])) {
            ++i;
        }
    }
    EnvAssignment a;
    if (i == line.size() || !name_start(line[i])) {
        return bad("expected NAME=value or export NAME=value");
    }
    while (i < line.size() && name_char(line[i])) {
        a.name.push_back(line[i++]);
    }
    if (i == line.size() || line[i] != '=') {
        return bad(fmt::format("expected '=' after {}", a.name));
    }
    ++i;
    if (i < line.size() && line[i] == '~') {
        return bad("a leading '~' would be expanded by a shell; quote the value");
    }
    while (i < line.size() && !blank(line[i])) {
        char c = line[i];
        if (c == '\'') {
            auto end = line.find('\'', i + 1);
            if (end == std::string_view::npos) {
                return bad("unterminated single quote");
            }
            a.value.append(line.substr(i + 1, end - i - 1));
            i = end + 1;
        } else if (c == '"') {
            ++i;
            bool closed = false;
            while (i < line.size()) {
                char d = line[i];
                if (d == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (d == '\\' && i + 1 < line.size() &&
                    std::string_view("\"\\$`").find(line[i + 1]) != std::string_view::npos) {
                    a.value.push_back(line[i + 1]);
                    i += 2;
                    continue;
                }
                if (d == '$' || d == '`') {
                    return bad(fmt::format("'{}' would be expanded or executed by a shell; "
                                           "use single quotes for a literal value",
                                           d));
                }
                a.value.push_back(d);
                ++i;
            }
            if (!closed) {
                return bad("unterminated double quote");
            }
        } else if (c == '\\') {
            if (i + 1 >= line.size()) {
                return bad("a line ending in '\\' (continuation lines are not supported)");
            }
            a.value.push_back(line[i + 1]);
            i += 2;
        } else if (c == '$' || c == '`') {
            return bad(fmt::format("'{}' would be expanded or executed by a shell; use single "
                                   "quotes for a literal value",
                                   c));
        } else if (std::string_view(";&|<>()").find(c) != std::string_view::npos) {
            return bad(fmt::format("'{}' is shell syntax; quote the value", c));
        } else {
            a.value.push_back(c);
            ++i;
        }
    }
    while (i < line.size() && blank(line[i])) {
        ++i;
    }
    if (i < line.size() && line[i] != '#') {
        return bad("more than one word after '=' (a shell would run it as a command); quote "
                   "the value");
    }
    return a;
}

} // namespace

util::Expected<std::vector<EnvAssignment>> parse_environ(std::string_view text,
                                                         std::string_view file) {
    std::vector<EnvAssignment> out;
    std::vector<std::string> problems;
    int number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == std::string_view::npos ? text.npos
                                                                               : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        auto parsed = parse_line(line);
        if (!parsed) {
            problems.push_back(
                fmt::format("unable to load {}:{}: {}", file, number, parsed.error().message()));
            continue;
        }
        if (!parsed->name.empty()) {
            parsed->line = number;
            out.push_back(std::move(*parsed));
        }
    }
    if (!problems.empty()) {
        return std::unexpected(util::Error::several(util::ExitCode::permanent, std::move(problems)));
    }
    return out;
}

} // namespace backup::core
