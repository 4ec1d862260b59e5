#include "model/runit.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "util/fd.hpp"

namespace backup::core {

util::Expected<bool> is_supervised(const fs::path& service_dir) {
    auto fd = util::open_fd((service_dir / "supervise" / "ok").string(), O_WRONLY | O_NONBLOCK);
    if (fd) {
        return true;
    }
    int err = fd.error().errno_code();
    if (err == ENXIO || err == ENOENT || err == ENOTDIR) {
        return false;
    }
    return std::unexpected(fd.error().with_context(
        fmt::format("find out whether {} is supervised", service_dir.string())));
}

util::Expected<SuperviseStatus> parse_supervise_status(std::string_view bytes) {
    if (bytes.size() != 20) {
        return util::fail(util::ExitCode::permanent,
                          "read supervise/status: bad format ({} bytes, expected 20)",
                          bytes.size());
    }
    auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
    std::uint64_t tai = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        tai = (tai << 8) | byte(i);
    }
    std::uint32_t nano = 0;
    for (std::size_t i = 8; i < 12; ++i) {
        nano = (nano << 8) | byte(i);
    }
    std::uint32_t pid = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        pid |= static_cast<std::uint32_t>(byte(12 + i)) << (8 * i);
    }
    SuperviseStatus s;
    constexpr std::uint64_t k_tai_offset = (std::uint64_t{1} << 62) + 10;
    s.since_unix = static_cast<std::int64_t>(tai - k_tai_offset);
    s.nanoseconds = nano;
    s.pid = static_cast<pid_t>(pid);
    s.paused = byte(16) != 0;
    s.want = static_cast<char>(byte(17));
    s.got_term = byte(18) != 0;
    if (byte(19) > 2) {
        return util::fail(util::ExitCode::permanent, "read supervise/status: bad state {}",
                          byte(19));
    }
    s.state = static_cast<ServiceState>(byte(19));
    return s;
}

util::Expected<SuperviseStatus> read_supervise_status(const fs::path& service_dir) {
    std::string path = (service_dir / "supervise" / "status").string();
    util::Fd fd = TRY(util::open_fd(path, O_RDONLY));
    char buffer[64];
    ssize_t n;
    do {
        n = ::read(fd.get(), buffer, sizeof buffer);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    auto parsed = parse_supervise_status(std::string_view(buffer, static_cast<std::size_t>(n)));
    if (!parsed) {
        return std::unexpected(parsed.error().with_context(path));
    }
    return parsed;
}

} // namespace backup::core
