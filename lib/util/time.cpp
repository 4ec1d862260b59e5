#include "util/time.hpp"

#include <ctime>

#include <fmt/format.h>

namespace backup::util {

namespace {

std::tm utc_fields(std::int64_t seconds) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return tm;
}

// Floor division, so that times before the epoch split correctly too.
std::int64_t floor_div(std::int64_t value, std::int64_t divisor) {
    std::int64_t q = value / divisor;
    return (value % divisor < 0) ? q - 1 : q;
}

// Exactly count decimal digits at text[pos...]; advances pos.
std::optional<int> digits(std::string_view text, std::size_t& pos, std::size_t count) {
    if (pos + count > text.size()) {
        return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    pos += count;
    return value;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
    if (pos < text.size() && text[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

} // namespace

SystemTime now() {
    return std::chrono::system_clock::now();
}

std::int64_t unix_now() {
    return to_unix(now());
}

SystemTime from_unix(std::int64_t seconds) {
    return SystemTime(std::chrono::seconds(seconds));
}

std::int64_t to_unix(SystemTime time) {
    return std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
}

std::string format_time(SystemTime time) {
    auto millis = std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
    std::int64_t seconds = floor_div(millis, 1000);
    std::tm tm = utc_fields(seconds);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       millis - seconds * 1000);
}

std::string format_time(std::int64_t unix_seconds) {
    return format_time(from_unix(unix_seconds));
}

std::optional<SystemTime> parse_time(std::string_view text) {
    std::size_t pos = 0;
    std::tm tm{};
    auto year = digits(text, pos, 4);
    if (!year || !expect(text, pos, '-')) {
        return std::nullopt;
    }
    auto month = digits(text, pos, 2);
    if (!month || !expect(text, pos, '-')) {
        return std::nullopt;
    }
    auto day = digits(text, pos, 2);
    if (!day || !expect(text, pos, 'T')) {
        return std::nullopt;
    }
    auto hour = digits(text, pos, 2);
    if (!hour || !expect(text, pos, ':')) {
        return std::nullopt;
    }
    auto minute = digits(text, pos, 2);
    if (!minute || !expect(text, pos, ':')) {
        return std::nullopt;
    }
    auto second = digits(text, pos, 2);
    if (!second) {
        return std::nullopt;
    }
    std::int64_t nanos = 0;
    if (expect(text, pos, '.')) {
        std::size_t start = pos;
        std::int64_t scale = 100'000'000;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            nanos += (text[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start) {
            return std::nullopt;
        }
    }
    if (!expect(text, pos, 'Z') || pos != text.size()) {
        return std::nullopt;
    }
    // SystemTime counts nanoseconds in 64 bits: it ends in 2262 (found by the fuzzer, as a
    // signed overflow under UBSan). No state file holds a time outside these years.
    if (*year < 1970 || *year > 2199) {
        return std::nullopt;
    }
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    std::int64_t seconds = ::timegm(&tm);
    // timegm normalises fields out of range (February 30th); only a real time reads back.
    std::tm check = utc_fields(seconds);
    // (timegm normalised tm itself too: compare with what was read.)
    if (check.tm_year != *year - 1900 || check.tm_mon != *month - 1 || check.tm_mday != *day ||
        check.tm_hour != *hour || check.tm_min != *minute || check.tm_sec != *second) {
        return std::nullopt;
    }
    return from_unix(seconds) +
           std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(nanos));
}

std::optional<std::int64_t> parse_unix_time(std::string_view text) {
    auto time = parse_time(text);
    if (!time) {
        return std::nullopt;
    }
    return to_unix(*time);
}

std::string format_compact_time(std::int64_t unix_seconds) {
    std::tm tm = utc_fields(unix_seconds);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

} // namespace backup::util
