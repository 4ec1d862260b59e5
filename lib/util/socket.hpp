// TCP sockets on IPv4 (and, for listening, IPv6) addresses: the one owner of socket(2) in the
// toolkit (the HTTP client, port choice when provisioning, and the tests' fixtures use these).
#pragma once

#include <chrono>
#include <string>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::util {

// Whether a server could listen on address:port now (bind succeeds). "0.0.0.0" or an empty
// address means every address. A port that is taken or not ours to take (EADDRINUSE, EACCES) is
// false; failing to make a socket at all is an error.
Expected<bool> port_is_free(const std::string& address, int port);

// A port on address that nothing listens on now, chosen by the kernel.
Expected<int> pick_free_port(const std::string& address);

// A TCP socket bound to address:port (an IPv4 or IPv6 literal; port 0: one the kernel chooses),
// with SO_REUSEADDR, not yet listening: connections to it are refused while the port stays taken.
Expected<Fd> bind_tcp(const std::string& address, int port);

// A socket listening on address:port (an IPv4 or IPv6 literal; port 0: one the kernel chooses, free
// by construction), with SO_REUSEADDR so that a test can listen again at once after a stop.
Expected<Fd> listen_tcp(const std::string& address, int port, int backlog = 16);

// The port a bound socket is on.
Expected<int> local_port(int fd);

// The next connection waiting on a listening socket, non-blocking and close-on-exec; an empty
// Fd when none waits.
Expected<Fd> accept_nonblocking(int listening);

// A connected socket to host:port (an IP literal or a name, which is looked up), with send and
// receive timeouts. Refused, unreachable or a name not found: 111.
Expected<Fd> connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout);

// A connected socket to the UNIX socket at path, with send and receive timeouts (111 when it
// cannot be connected).
Expected<Fd> connect_unix(const std::string& path, std::chrono::milliseconds timeout);

// Whether something accepts connections on address:port now.
bool accepts_connections(const std::string& address, int port);

} // namespace backup::util
