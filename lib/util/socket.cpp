#include "util/socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

namespace backup::util {

namespace {

// The address to bind: an IPv4 or IPv6 literal, or every IPv4 address when empty.
struct BindAddress {
    sockaddr_storage storage{};
    socklen_t size = 0;
    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

Expected<BindAddress> bind_address(const std::string& address, int port) {
    BindAddress a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (address.empty()) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
    } else {
        return fail(ExitCode::permanent, "use address '{}': not an IP address", address);
    }
    if (a.family() == AF_INET) {
        v4->sin_port = htons(static_cast<uint16_t>(port));
        a.size = sizeof(sockaddr_in);
    } else {
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        a.size = sizeof(sockaddr_in6);
    }
    return a;
}

Expected<Fd> tcp_socket(int family) {
    Fd sock(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return fail_errno(errno, "create a socket");
    }
    return sock;
}

} // namespace

Expected<bool> port_is_free(const std::string& address, int port) {
    BindAddress addr = TRY(bind_address(address, port));
    Fd sock = TRY(tcp_socket(addr.family()));
    if (::bind(sock.get(), addr.get(), addr.size) == 0) {
        return true;
    }
    if (errno == EADDRINUSE || errno == EACCES) {
        return false;
    }
    return fail_errno(errno, fmt::format("probe port {} on {}", port, address));
}

Expected<int> pick_free_port(const std::string& address) {
    BindAddress addr = TRY(bind_address(address, 0));
    Fd sock = TRY(tcp_socket(addr.family()));
    if (::bind(sock.get(), addr.get(), addr.size) != 0) {
        return fail_errno(errno, fmt::format("find a free port on {}", address));
    }
    return local_port(sock.get());
}

Expected<Fd> bind_tcp(const std::string& address, int port) {
    BindAddress addr = TRY(bind_address(address, port));
    Fd sock = TRY(tcp_socket(addr.family()));
    int one = 1;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(sock.get(), addr.get(), addr.size) != 0) {
        return fail_errno(errno, fmt::format("bind to {}:{}", address, port));
    }
    return sock;
}

Expected<Fd> listen_tcp(const std::string& address, int port, int backlog) {
    Fd sock = TRY(bind_tcp(address, port));
    if (::listen(sock.get(), backlog) != 0) {
        return fail_errno(errno, fmt::format("listen on {}:{}", address, port));
    }
    return sock;
}

Expected<int> local_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return fail_errno(errno, "read a socket's address");
    }
    in_port_t port = addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port;
    return static_cast<int>(ntohs(port));
}

Expected<Fd> accept_nonblocking(int listening) {
    while (true) {
        Fd conn(::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (conn) {
            return conn;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return Fd();
        }
        // A connection that was reset while it waited is gone; the next one may be fine.
        if (errno != EINTR && errno != ECONNABORTED) {
            return fail_errno(errno, "accept a connection");
        }
    }
}

namespace {

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// connect(2) retried on EINTR: 0, or the errno.
int connect_retrying(int fd, const sockaddr* addr, socklen_t size) {
    while (::connect(fd, addr, size) != 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    return 0;
}

struct AddrInfoFree {
    void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};

} // namespace

Expected<Fd> connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
    std::string where = fmt::format("{}:{}", host, port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        return fail(ExitCode::temporary, "connect to {}: {}", where, gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, AddrInfoFree> list(found);
    int err = ECONNREFUSED;
    for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
        Fd sock(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
        if (!sock) {
            err = errno;
            continue;
        }
        set_timeouts(sock.get(), timeout);
        err = connect_retrying(sock.get(), ai->ai_addr, ai->ai_addrlen);
        if (err == 0) {
            return sock;
        }
    }
    return fail_errno(err, fmt::format("connect to {}", where));
}

Expected<Fd> connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) {
        return fail(ExitCode::permanent, "connect to {}: the path is too long for a socket", path);
    }
    addr.sun_family = AF_UNIX;
    std::copy(path.begin(), path.end(), addr.sun_path);
    Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return fail_errno(errno, "create a socket");
    }
    set_timeouts(sock.get(), timeout);
    if (int err = connect_retrying(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        err != 0) {
        return fail_errno(err, fmt::format("connect to {}", path));
    }
    return sock;
}

bool accepts_connections(const std::string& address, int port) {
    return connect_tcp(address, port, std::chrono::seconds(5)).has_value();
}

} // namespace backup::util
