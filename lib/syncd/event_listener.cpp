#include "syncd/event_listener.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "util/socket.hpp"

namespace backup::core {

using util::ExitCode;

namespace {

bool is_loopback(const std::string& host) {
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

void send_quietly(int fd, std::string_view bytes) {
    // A store that gave up waiting has closed its end: no SIGPIPE, nothing to do about it.
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

} // namespace

std::string EventAddress::text() const {
    return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port)
                                               : fmt::format("[{}]:{}", host, port);
}

util::Expected<EventAddress> parse_event_address(const std::string& text) {
    EventAddress a;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find("]:");
        if (close == std::string::npos) {
            return util::fail(ExitCode::permanent,
                              "use --event-listen {}: expected HOST:PORT or [::1]:PORT", text);
        }
        a.host = text.substr(1, close - 1);
        port = std::string_view(text).substr(close + 2);
    } else {
        auto colon = text.find(':');
        if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) {
            return util::fail(ExitCode::permanent,
                              "use --event-listen {}: expected HOST:PORT (an IPv6 address in "
                              "brackets, [::1]:PORT)",
                              text);
        }
        a.host = text.substr(0, colon);
        port = std::string_view(text).substr(colon + 1);
    }
    if (!is_loopback(a.host)) {
        return util::fail(ExitCode::permanent,
                          "use --event-listen {}: {} is not a loopback address (127.0.0.0/8 or "
                          "::1); bucket events are taken only from this machine",
                          text, a.host.empty() ? "an empty host" : a.host);
    }
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc() || end != port.data() + port.size() || a.port < 1 || a.port > 65535) {
        return util::fail(ExitCode::permanent,
                          "use --event-listen {}: the port must be a number from 1 to 65535", text);
    }
    return a;
}

util::Expected<EventListener> EventListener::open(const EventAddress& address,
                                                  std::chrono::milliseconds deadline,
                                                  std::size_t max_connections) {
    auto fd = util::listen_tcp(address.host, address.port, 64); // its errors name the address
    if (!fd) {
        return std::unexpected(fd.error());
    }
    int flags = ::fcntl(fd->get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        return util::fail_errno(errno,
                                fmt::format("listen for bucket events on {}", address.text()));
    }
    int port = TRY(util::local_port(fd->get()));
    return EventListener(std::move(*fd), port, deadline, std::max<std::size_t>(1, max_connections));
}

void EventListener::add_poll_fds(std::vector<pollfd>& fds) const {
    // While every slot is taken, new connections wait in the kernel's backlog; after a failed
    // accept (out of descriptors) too, for a second, rather than spinning.
    if (m_connections.size() < m_max && Clock::now() >= m_accept_again) {
        fds.push_back({m_fd.get(), POLLIN, 0});
    }
    for (const auto& c : m_connections) {
        fds.push_back({c.fd.get(), POLLIN, 0});
    }
}

std::optional<EventListener::Clock::time_point> EventListener::next_deadline() const {
    std::optional<Clock::time_point> t;
    if (m_accept_again > Clock::now()) {
        t = m_accept_again;
    }
    for (const auto& c : m_connections) {
        t = t ? std::min(*t, c.deadline) : c.deadline;
    }
    return t;
}

bool EventListener::serve(Connection& c, Received& received) {
    char buffer[16384];
    while (c.request.state() == EventRequest::State::reading) {
        ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        }
        if (n <= 0) {
            ++received.rejected; // gone before its request was whole
            return true;
        }
        c.request.add(std::string_view(buffer, static_cast<std::size_t>(n)));
        if (c.request.take_continue()) {
            send_quietly(c.fd.get(), "HTTP/1.1 100 Continue\r\n\r\n");
        }
    }
    send_quietly(c.fd.get(), c.request.response());
    ::shutdown(c.fd.get(), SHUT_WR);
    if (c.request.state() == EventRequest::State::complete) {
        ++received.events;
        received.concerning += event_may_concern_snapshots(c.request.body()) ? 1 : 0;
    } else {
        ++received.rejected;
    }
    return true;
}

EventListener::Received EventListener::service() {
    Received received;
    auto now = Clock::now();
    while (m_connections.size() < m_max && now >= m_accept_again) {
        auto conn = util::accept_nonblocking(m_fd.get());
        if (!conn) {
            m_accept_again = now + std::chrono::seconds(1);
        }
        if (!conn || !*conn) {
            break;
        }
        m_connections.push_back({std::move(*conn), EventRequest(), now + m_deadline});
    }
    std::erase_if(m_connections, [&](Connection& c) {
        if (serve(c, received)) {
            return true;
        }
        if (now >= c.deadline) {
            ++received.rejected; // sent too little in time
            return true;
        }
        return false;
    });
    return received;
}

} // namespace backup::core
