#include "util/signals.hpp"

#include <cerrno>
#include <sys/signalfd.h>
#include <unistd.h>
#include <utility>

namespace backup::util {

Expected<SignalFd> SignalFd::create(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : signals) {
        sigaddset(&set, sig);
    }
    SignalFd result;
    if (int err = ::pthread_sigmask(SIG_BLOCK, &set, &result.m_old); err != 0) {
        return fail_errno(err, "block signals");
    }
    result.m_restore = true;
    result.m_fd.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!result.m_fd) {
        return fail_errno(errno, "create a signalfd");
    }
    return result;
}

SignalFd::SignalFd(SignalFd&& other) noexcept
    : m_fd(std::move(other.m_fd)), m_old(other.m_old),
      m_restore(std::exchange(other.m_restore, false)) {}

SignalFd::~SignalFd() {
    if (m_restore) {
        // What arrived after the last take() is dropped (its owner is ending): left pending, it
        // would be delivered, with its default action, the moment the mask is restored.
        while (take() != 0) {
        }
        m_fd.reset();
        ::pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
    }
}

int SignalFd::take() {
    if (!m_fd) {
        return 0;
    }
    signalfd_siginfo info{};
    ssize_t n;
    do {
        n = ::read(m_fd.get(), &info, sizeof info);
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
}

} // namespace backup::util
