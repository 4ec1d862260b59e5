// Signals as events: the one signalfd(2) owner in the toolkit.
#pragma once

#include <csignal>
#include <initializer_list>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::util {

// Blocks the given signals in the calling thread (the whole process when it has one thread) and
// delivers them through a descriptor that poll(2) can watch; destruction restores the signal
// mask. Children started by util::Child get an empty mask and default dispositions anyway.
class SignalFd {
public:
    static Expected<SignalFd> create(std::initializer_list<int> signals);
    SignalFd(SignalFd&& other) noexcept;
    SignalFd& operator=(SignalFd&&) = delete;
    SignalFd(const SignalFd&) = delete;
    SignalFd& operator=(const SignalFd&) = delete;
    ~SignalFd();

    // Readable while a signal is pending.
    int fd() const { return m_fd.get(); }
    // The next pending signal, or 0 when none is.
    int take();

private:
    SignalFd() = default;
    Fd m_fd;
    sigset_t m_old{};
    bool m_restore = false;
};

} // namespace backup::util
