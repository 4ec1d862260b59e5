#include "model/environ.hpp"

namespace backup::core {

namespace {

bool name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool name_char(char c) {
    return name_start(c) || (c >= '0' && c <= '9');
}
bool blank(char c) {
    return c == ' ' || c == '\t';
}

// One line of an environ file, read the way a POSIX shell would read an assignment, except that
// whatever it would expand or execute is refused. Hand-written: this is a security boundary.
class LineParser {
public:
    explicit LineParser(std::string_view line) : m_line(line) {}

    // An empty name for a blank or comment line. Errors come back as the message.
    util::Expected<EnvAssignment> parse() {
        skip_blanks();
        if (done() || peek() == '#') {
            return EnvAssignment{};
        }
        if (m_line.substr(m_at, 7) == "export " || m_line.substr(m_at, 7) == "export\t") {
            m_at += 7;
            skip_blanks();
        }
        EnvAssignment a;
        if (done() || !name_start(peek())) {
            return bad("expected NAME=value or export NAME=value");
        }
        while (!done() && name_char(peek())) {
            a.name.push_back(m_line[m_at++]);
        }
        if (done() || peek() != '=') {
            return bad(fmt::format("expected '=' after {}", a.name));
        }
        ++m_at;
        if (!done() && peek() == '~') {
            return bad("a leading '~' would be expanded by a shell; quote the value");
        }
        if (m_line.find('\0') != std::string_view::npos) {
            return bad("a NUL byte, which no shell variable can hold");
        }
        a.value = TRY(value());
        skip_blanks();
        if (!done() && peek() != '#') {
            return bad("more than one word after '=' (a shell would run it as a command); quote "
                       "the value");
        }
        return a;
    }

private:
    static std::unexpected<util::Error> bad(std::string_view why) {
        return std::unexpected(util::Error(util::ExitCode::permanent, std::string(why)));
    }
    static std::unexpected<util::Error> expansion(char c) {
        return bad(fmt::format("'{}' would be expanded or executed by a shell; use single "
                               "quotes for a literal value",
                               c));
    }
    bool done() const { return m_at >= m_line.size(); }
    char peek() const { return m_line[m_at]; }
    void skip_blanks() {
        while (!done() && blank(peek())) {
            ++m_at;
        }
    }

    // The word after '=': unquoted characters, '...' and "..." parts, up to a blank.
    util::Expected<std::string> value() {
        std::string out;
        while (!done() && !blank(peek())) {
            char c = peek();
            if (c == '\'') {
                auto end = m_line.find('\'', m_at + 1);
                if (end == std::string_view::npos) {
                    return bad("unterminated single quote");
                }
                out.append(m_line.substr(m_at + 1, end - m_at - 1));
                m_at = end + 1;
            } else if (c == '"') {
                TRY(double_quoted(out));
            } else if (c == '\\') {
                if (m_at + 1 >= m_line.size()) {
                    return bad("a line ending in '\\' (continuation lines are not supported)");
                }
                out.push_back(m_line[m_at + 1]);
                m_at += 2;
            } else if (c == '$' || c == '`') {
                return expansion(c);
            } else if (std::string_view(";&|<>()").find(c) != std::string_view::npos) {
                return bad(fmt::format("'{}' is shell syntax; quote the value", c));
            } else if (c == '{') {
                return bad("'{' would be expanded by bash (brace expansion: {a,b} gives b); "
                           "quote the value");
            } else if (c == '*' || c == '?' || c == '[') {
                return bad(fmt::format("'{}' could be expanded to file names by a shell (export's "
                                       "arguments are words); quote the value",
                                       c));
            } else if (c == '~' && !out.empty() && out.back() == ':') {
                return bad("a '~' after ':' would be expanded by a shell; quote the value");
            } else {
                out.push_back(c);
                ++m_at;
            }
        }
        return out;
    }

    // "...": \" \\ \$ \` escape, $ and ` would be expanded.
    util::Expected<void> double_quoted(std::string& out) {
        ++m_at;
        while (!done()) {
            char d = peek();
            if (d == '"') {
                ++m_at;
                return {};
            }
            if (d == '\\' && m_at + 1 < m_line.size() &&
                std::string_view("\"\\$`").find(m_line[m_at + 1]) != std::string_view::npos) {
                out.push_back(m_line[m_at + 1]);
                m_at += 2;
                continue;
            }
            if (d == '$' || d == '`') {
                return expansion(d);
            }
            out.push_back(d);
            ++m_at;
        }
        return bad("unterminated double quote");
    }

    std::string_view m_line;
    std::size_t m_at = 0;
};

} // namespace

util::Expected<std::vector<EnvAssignment>> parse_environ(std::string_view text,
                                                         std::string_view file) {
    std::vector<EnvAssignment> out;
    std::vector<std::string> problems;
    int number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        ++number;
        // A shell keeps a carriage return in the value: what restic would get is not what the
        // line shows.
        auto parsed = !line.empty() && line.back() == '\r'
                          ? util::Expected<EnvAssignment>(std::unexpected(util::Error(
                                util::ExitCode::permanent,
                                "the line ends in a carriage return (Windows line ends), which a "
                                "shell keeps in the value; convert the file: sed -i 's/\\r$//' "
                                "FILE")))
                          : LineParser(line).parse();
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
        return std::unexpected(
            util::Error::several(util::ExitCode::permanent, std::move(problems)));
    }
    return out;
}

} // namespace backup::core
