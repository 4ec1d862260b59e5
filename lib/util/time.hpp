// The one time format of every state and status file, and the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backup::util {

using SystemTime = std::chrono::system_clock::time_point;

SystemTime now();
// Seconds since the epoch, now.
std::int64_t unix_now();
SystemTime from_unix(std::int64_t seconds);
std::int64_t to_unix(SystemTime time);

// "2024-05-01T03:00:00.250Z": ISO 8601, UTC, milliseconds. Fixed width, so the text sorts by
// time, and fine enough to order runs that follow each other within one second.
std::string format_time(SystemTime time);
std::string format_time(std::int64_t unix_seconds);

// Reads the format above; the fraction may be absent or of any length ("2024-05-01T03:00:00Z",
// as files of earlier versions hold it). nullopt for anything else, including a time that does
// not exist (2024-02-30) and a year outside 1970-2199 (SystemTime's nanoseconds end in 2262).
std::optional<SystemTime> parse_time(std::string_view text);
// The same, to whole seconds since the epoch (rounded down).
std::optional<std::int64_t> parse_unix_time(std::string_view text);

// "20240501T030000Z": the compact form, for file names and AWS SigV4's x-amz-date.
std::string format_compact_time(std::int64_t unix_seconds);

} // namespace backup::util
