#include "util/text.hpp"

#include <array>

#include <fmt/format.h>

namespace backup::util {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::optional<std::int64_t> unit_seconds(char c) {
    switch (c) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return std::nullopt;
    }
}

} // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    const std::int64_t max = k_max_duration.count();
    std::int64_t total = 0;
    std::size_t i = 0;
    bool had_unit = false;
    while (i < text.size()) {
        if (!is_digit(text[i])) {
            return std::nullopt;
        }
        std::int64_t number = 0;
        while (i < text.size() && is_digit(text[i])) {
            number = number * 10 + (text[i] - '0');
            if (number > max) {
                return std::nullopt;
            }
            ++i;
        }
        std::int64_t unit = 1;
        if (i < text.size()) {
            auto u = unit_seconds(text[i]);
            if (!u) {
                return std::nullopt;
            }
            unit = *u;
            had_unit = true;
            ++i;
        } else if (had_unit) {
            return std::nullopt; // "1h30": a bare number after one with a unit
        }
        if (number > max / unit || total + number * unit > max) {
            return std::nullopt;
        }
        total += number * unit;
    }
    return std::chrono::seconds(total);
}

std::string format_duration(std::chrono::seconds duration) {
    std::int64_t seconds = std::max<std::int64_t>(duration.count(), 0);
    if (seconds < 120) {
        return fmt::format("{}s", seconds);
    }
    if (seconds < 7200) {
        return fmt::format("{}m", seconds / 60);
    }
    if (seconds < 172800) {
        return fmt::format("{}h", seconds / 3600);
    }
    return fmt::format("{}d", seconds / 86400);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::size_t digits = 0;
    std::uint64_t number = 0;
    while (digits < text.size() && is_digit(text[digits])) {
        auto d = static_cast<std::uint64_t>(text[digits] - '0');
        if (number > (UINT64_MAX - d) / 10) {
            return std::nullopt;
        }
        number = number * 10 + d;
        ++digits;
    }
    std::string_view suffix = text.substr(digits);
    std::uint64_t factor = 1;
    if (suffix.size() == 1) {
        switch (suffix.front()) {
        case 'K':
        case 'k':
            factor = 1ULL << 10;
            break;
        case 'M':
        case 'm':
            factor = 1ULL << 20;
            break;
        case 'G':
        case 'g':
            factor = 1ULL << 30;
            break;
        case 'T':
        case 't':
            factor = 1ULL << 40;
            break;
        default:
            return std::nullopt;
        }
    } else if (!suffix.empty()) {
        return std::nullopt;
    }
    if (digits == 0 || number == 0 || number > UINT64_MAX / factor) {
        return std::nullopt;
    }
    return number * factor;
}

std::string format_size(std::uint64_t bytes) {
    constexpr std::array<const char*, 5> k_units = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < k_units.size()) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.1f}{}", value, k_units[unit]);
}

Rune decode_rune(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
        return {c, 1, true};
    }
    std::size_t size = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    char32_t value = 0;
    if (c >= 0xc2 && c <= 0xdf) {
        size = 2;
        value = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        size = 3;
        value = c & 0x0fu;
        low = c == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
        high = c == 0xed ? 0x9f : 0xbf; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        size = 4;
        value = c & 0x07u;
        low = c == 0xf0 ? 0x90 : 0x80;
        high = c == 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
    } else {
        return {};
    }
    if (i + size > s.size()) {
        return {};
    }
    for (std::size_t k = 1; k < size; ++k) {
        unsigned char next = byte(i + k);
        unsigned char lo = k == 1 ? low : 0x80;
        unsigned char hi = k == 1 ? high : 0xbf;
        if (next < lo || next > hi) {
            return {};
        }
        value = (value << 6) | (next & 0x3fu);
    }
    return {value, size, true};
}

bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        Rune rune = decode_rune(text, i);
        if (!rune.valid) {
            return false;
        }
        i += rune.size;
    }
    return true;
}

std::size_t utf8_length(std::string_view text) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < text.size(); ++n) {
        i += decode_rune(text, i).size;
    }
    return n;
}

std::string to_valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        Rune rune = decode_rune(text, i);
        if (rune.valid) {
            out.append(text.substr(i, rune.size));
        } else {
            out.append("\xef\xbf\xbd"); // U+FFFD REPLACEMENT CHARACTER
        }
        i += rune.size;
    }
    return out;
}

std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        Rune rune = decode_rune(text, i);
        if (!rune.valid) {
            out.append("\xef\xbf\xbd");
        } else if (rune.value < 0x20 || (rune.value >= 0x7f && rune.value < 0xa0)) {
            out += ' ';
        } else {
            out.append(text.substr(i, rune.size));
        }
        i += rune.size;
    }
    return out;
}

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) {
        return std::string(text);
    }
    std::size_t keep = 0;
    while (keep < text.size()) {
        std::size_t next = keep + decode_rune(text, keep).size;
        if (next + 3 > max_bytes) {
            break;
        }
        keep = next;
    }
    return std::string(text.substr(0, keep)) + "...";
}

std::string quote_path(std::string_view path) {
    std::string out = "\"";
    std::size_t i = 0;
    while (i < path.size()) {
        unsigned char c = static_cast<unsigned char>(path[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (c >= 0x80) {
            Rune rune = decode_rune(path, i);
            if (!rune.valid) {
                out += fmt::format("\\x{:02x}", c);
            } else {
                out += path.substr(i, rune.size);
                i += rune.size;
                continue;
            }
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    out += '"';
    return out;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    for (std::size_t i = 0; i < text.size();) {
        Rune rune = decode_rune(text, i);
        char c = text[i];
        if (!rune.valid || (rune.value < 0x20 && c != '\t' && c != '\n') || rune.value == 0x7f) {
            out.append("\xef\xbf\xbd"); // U+FFFD REPLACEMENT CHARACTER
        } else if (c == '&') {
            out.append("&amp;");
        } else if (c == '<') {
            out.append("&lt;");
        } else if (c == '>') {
            out.append("&gt;");
        } else if (c == '"') {
            out.append("&quot;");
        } else if (c == '\'') {
            out.append("&#39;");
        } else {
            out.append(text.substr(i, rune.size));
        }
        i += rune.size;
    }
    return out;
}

} // namespace backup::util
