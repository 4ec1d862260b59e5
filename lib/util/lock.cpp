#include "util/lock.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/fs.hpp"

namespace backup::util {

namespace {

// flock retried on EINTR: 0, or the errno.
int flock_retrying(int fd, int operation) {
    while (::flock(fd, operation) != 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

std::string holder_pid(const std::string& path) {
    auto text = read_file(path);
    if (!text) {
        return {};
    }
    std::string pid;
    for (char c : *text) {
        if (c < '0' || c > '9') {
            break;
        }
        pid += c;
    }
    return pid;
}

} // namespace

void FileLock::record_holder() {
    // Only for the message of the next process that finds the lock held; not needed otherwise.
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(m_fd.get(), 0) != 0) {
        return;
    }
    if (::pwrite(m_fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        // No holder named rather than half a pid, which would name another process.
        [[maybe_unused]] int rc = ::ftruncate(m_fd.get(), 0);
    }
}

Expected<FileLock> FileLock::acquire(const std::string& path, unsigned mode) {
    Fd fd = TRY(open_fd(path, O_RDWR | O_CREAT, mode));
    if (int err = flock_retrying(fd.get(), LOCK_EX); err != 0) {
        return fail_errno(err, fmt::format("lock {}", path));
    }
    FileLock lock(std::move(fd));
    lock.record_holder();
    return lock;
}

Expected<std::optional<FileLock>> FileLock::try_acquire(const std::string& path, unsigned mode) {
    Fd fd = TRY(open_fd(path, O_RDWR | O_CREAT, mode));
    if (int err = flock_retrying(fd.get(), LOCK_EX | LOCK_NB); err != 0) {
        if (err == EWOULDBLOCK) {
            return std::optional<FileLock>();
        }
        return fail_errno(err, fmt::format("lock {}", path));
    }
    FileLock lock(std::move(fd));
    lock.record_holder();
    return std::optional<FileLock>(std::move(lock));
}

Expected<FileLock> FileLock::try_acquire_or_fail(const std::string& path, unsigned mode,
                                                 std::string_view what, std::string_view holder) {
    auto lock = TRY(try_acquire(path, mode));
    if (!lock) {
        std::string pid = holder_pid(path);
        return fail(ExitCode::temporary, "{}: {} ({}it holds {})", what, holder,
                    pid.empty() ? std::string() : fmt::format("pid {}, ", pid), path);
    }
    return std::move(*lock);
}

std::optional<FileLock> FileLock::try_lock_fd(Fd fd) {
    if (flock_retrying(fd.get(), LOCK_EX | LOCK_NB) == EWOULDBLOCK) {
        return std::nullopt;
    }
    return FileLock(std::move(fd));
}

} // namespace backup::util
