// Text helpers shared by the tools: durations and sizes as people write and read them, UTF-8,
// and paths quoted for one-line messages.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backup::util {

// The longest duration any option or key accepts: 100 years.
inline constexpr std::chrono::seconds k_max_duration{100LL * 366 * 24 * 3600};

// A duration: a number of seconds ("90"), or numbers each followed by a unit s, m, h or d
// ("30s", "5m", "1h30m", "2d"). nullopt when malformed or above k_max_duration; "0" is zero.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// A duration for a table cell: "45s", "12m", "5h", "3d" (whole units, rounded down; under two
// of a unit, the next smaller one). Negative durations read as zero.
std::string format_duration(std::chrono::seconds duration);

// A number of bytes, optionally followed by K, M, G or T (powers of 1024, either case): "500M".
// nullopt when malformed, zero or too large for 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

// "512B", "1.5KiB", "20.0MiB", "3.2GiB", "1.1TiB".
std::string format_size(std::uint64_t bytes);

// One UTF-8 character at text[at]: its code point and length in bytes; valid is false (and
// size 1) for a byte that does not start a well-formed sequence (overlong forms, surrogates and
// code points above U+10FFFF are not well formed).
struct Rune {
    char32_t value = 0;
    std::size_t size = 1;
    bool valid = false;
};
Rune decode_rune(std::string_view text, std::size_t at);

// Whether text is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);
// The characters of text (a byte of invalid UTF-8 counts as one): its width in a table.
std::size_t utf8_length(std::string_view text);
// text with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, so that it can
// go into JSON.
std::string to_valid_utf8(std::string_view text);

// text as one line fit for a message that leaves the machine (a mail header, a chat message):
// every control character (CR, LF, TAB, ESC, DEL, and U+0080 to U+009F) becomes a space, and
// every byte of invalid UTF-8 U+FFFD.
std::string one_line(std::string_view text);

// At most max_bytes of well-formed UTF-8 text, cut at a character boundary, ending in "..." when
// it was cut (max_bytes must leave room for it: at least 3).
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

// A path fit for a one-line message: in double quotes, with '"', '\\', control characters and
// bytes of invalid UTF-8 escaped (\n, \t, \r, \xff).
std::string quote_path(std::string_view path);

// text fit for HTML content and quoted attribute values: &, <, >, " and ' as character
// references, bytes of invalid UTF-8 and control characters (but tab and newline) as U+FFFD.
std::string html_escape(std::string_view text);

} // namespace backup::util
