// Reading runit's supervise/ directory directly, without running sv.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <sys/types.h>

#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

// Whether a runsv supervises service_dir now: a live runsv holds supervise/ok open for reading,
// so opening it O_WRONLY|O_NONBLOCK succeeds; with none it fails with ENXIO (or ENOENT: never
// supervised). Any other failure (EACCES, EIO) is an error, never "not supervised".
util::Expected<bool> is_supervised(const fs::path& service_dir);

enum class ServiceState : std::uint8_t { down = 0, run = 1, finish = 2 };

// supervise/status: 20 bytes. TAI64 seconds (big-endian, unix + 2^62 + 10), nanoseconds
// (big-endian), pid (little-endian, bytes 12-15), paused flag, want ('u'/'d'), got-TERM flag,
// state.
struct SuperviseStatus {
    std::int64_t since_unix = 0; // when the state last changed
    std::uint32_t nanoseconds = 0;
    pid_t pid = 0;
    bool paused = false;
    char want = 0;
    bool got_term = false;
    ServiceState state = ServiceState::down;
};

// Unpacks the 20 bytes; any other size or an unknown state is "bad format" (100).
util::Expected<SuperviseStatus> parse_supervise_status(std::string_view bytes);
// Reads service_dir/supervise/status in one read.
util::Expected<SuperviseStatus> read_supervise_status(const fs::path& service_dir);

} // namespace backup::core
