// Exclusive locks with flock(2): held for as long as the FileLock lives, dropped by the kernel
// however the holder dies. The only place the toolkit takes a lock.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::util {

class FileLock {
public:
    // Waits until the lock on path (created with mode when missing) is free and takes it.
    static Expected<FileLock> acquire(const std::string& path, unsigned mode);
    // Takes the lock on path without waiting; nullopt when another process holds it.
    static Expected<std::optional<FileLock>> try_acquire(const std::string& path, unsigned mode);
    // Takes the lock without waiting, or fails with 111: "unable to <what>: <holder> (pid N, it
    // holds PATH)", the pid read from the file, which every holder writes there.
    static Expected<FileLock> try_acquire_or_fail(const std::string& path, unsigned mode,
                                                  std::string_view what, std::string_view holder);
    // Locks an open descriptor (a directory, say) without waiting; nullopt when it is held. A
    // file system that cannot lock at all (some network file systems) counts as locked by us.
    static std::optional<FileLock> try_lock_fd(Fd fd);

    int fd() const { return m_fd.get(); }

private:
    explicit FileLock(Fd fd) : m_fd(std::move(fd)) {}
    void record_holder();

    Fd m_fd;
};

} // namespace backup::util
