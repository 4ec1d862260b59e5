#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace backup::util {

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        reset(other.release());
    }
    return *this;
}

void Fd::reset(int fd) {
    if (m_fd >= 0) {
        // close() may report EINTR on some systems, but the descriptor is gone either way: never
        // retry, that could close a descriptor another thread just opened.
        ::close(m_fd);
    }
    m_fd = fd;
}

Expected<Fd> open_fd(const std::string& path, int flags, unsigned mode) {
    int fd;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return fail_errno(errno, fmt::format("open {}", path));
    }
    return Fd(fd);
}

Expected<void> write_all(int fd, std::string_view data, std::string_view what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, fmt::format("write {}", what));
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Expected<std::string> read_all(int fd, std::string_view what) {
    std::string out;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, fmt::format("read {}", what));
        }
        if (n == 0) {
            return out;
        }
        out.append(buffer, static_cast<size_t>(n));
    }
}

Expected<Pipe> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return fail_errno(errno, "create a pipe");
    }
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

} // namespace backup::util
