// A move-only owner of a file descriptor.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "util/error.hpp"

namespace backup::util {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept;
    ~Fd() { reset(); }

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    explicit operator bool() const { return valid(); }
    // Gives up ownership without closing.
    int release() { return std::exchange(m_fd, -1); }
    // Closes the descriptor (if any) and takes fd.
    void reset(int fd = -1);

private:
    int m_fd = -1;
};

// open(2) with O_CLOEXEC added; the error names path.
Expected<Fd> open_fd(const std::string& path, int flags, unsigned mode = 0);

// Writes all of data, retrying on EINTR and short writes.
Expected<void> write_all(int fd, std::string_view data, std::string_view what);
// Reads until end of file.
Expected<std::string> read_all(int fd, std::string_view what);

// A pipe whose both ends are close-on-exec.
struct Pipe {
    Fd read;
    Fd write;
};
Expected<Pipe> make_pipe();

} // namespace backup::util
