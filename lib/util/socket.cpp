#include "util/socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace backup::util {

namespace {

Expected<sockaddr_in> ipv4_address(const std::string& address, int port, bool any_if_empty) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (any_if_empty && address.empty()) {
        addr.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
        return fail(ExitCode::permanent, "use address '{}': not an IPv4 address", address);
    }
    return addr;
}

Expected<Fd> tcp_socket() {
    Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return fail_errno(errno, "create a socket");
    }
    return sock;
}

} // namespace

Expected<bool> port_is_free(const std::string& address, int port) {
    sockaddr_in addr = TRY(ipv4_address(address, port, true));
    Fd sock = TRY(tcp_socket());
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        return true;
    }
    if (errno == EADDRINUSE || errno == EACCES) {
        return false;
    }
    return fail_errno(errno, fmt::format("probe port {} on {}", port, address));
}

Expected<int> pick_free_port(const std::string& address) {
    sockaddr_in addr = TRY(ipv4_address(address, 0, true));
    Fd sock = TRY(tcp_socket());
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return fail_errno(errno, fmt::format("find a free port on {}", address));
    }
    socklen_t len = sizeof addr;
    if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        return fail_errno(errno, fmt::format("find a free port on {}", address));
    }
    return static_cast<int>(ntohs(addr.sin_port));
}

Expected<Fd> connect_tcp(const std::string& address, int port, std::chrono::milliseconds timeout) {
    sockaddr_in addr = TRY(ipv4_address(address, port, false));
    Fd sock = TRY(tcp_socket());
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc;
    do {
        rc = ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        return fail_errno(errno, fmt::format("connect to {}:{}", address, port));
    }
    return sock;
}

bool accepts_connections(const std::string& address, int port) {
    return connect_tcp(address, port, std::chrono::seconds(5)).has_value();
}

} // namespace backup::util
