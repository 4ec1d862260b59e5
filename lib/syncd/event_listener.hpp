// backup-syncd's bucket-event listener (listing mode, --event-listen): a webhook on loopback
// that a store (versitygw's --event-webhook-url, Ceph RGW's HTTP endpoint) POSTs its S3 event
// notifications to. It never blocks: the daemon's poll loop waits on its descriptors and calls
// service(), which accepts, reads and answers whatever is ready. Each connection has a deadline
// and their number is bounded, so a client that sends nothing, or too much, costs one slot for
// a few seconds and holds up no one. What a request can do is ask for a listing sooner.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>

#include "syncd/event_request.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::core {

// Where to listen: a loopback address (127.0.0.0/8 or ::1) and a port.
struct EventAddress {
    std::string host; // the literal, without brackets
    int port = 0;
    std::string text() const; // "127.0.0.1:8400", "[::1]:8400"
};

// "HOST:PORT" or "[::1]:PORT". Anything that is not a loopback literal (a name such as
// localhost, 0.0.0.0, another host's address) or a port outside 1..65535 is refused (100).
util::Expected<EventAddress> parse_event_address(const std::string& text);

class EventListener {
public:
    using Clock = std::chrono::steady_clock;

    // What one service() found.
    struct Received {
        std::size_t events = 0;     // POSTs answered 200
        std::size_t concerning = 0; // of those, the ones that may be about snapshots/
        std::size_t rejected = 0;   // requests answered with an error, dropped connections
    };

    // Listening on address; the port in use (EADDRINUSE) or any other failure: 111.
    static util::Expected<EventListener>
    open(const EventAddress& address, std::chrono::milliseconds deadline = std::chrono::seconds(5),
         std::size_t max_connections = 32);

    // Appends what to wait for: the listening socket (while there is room) and each connection.
    void add_poll_fds(std::vector<pollfd>& fds) const;
    // Accepts, reads and answers every connection that is ready, drops those past their
    // deadline. Never blocks.
    Received service();
    // The earliest connection deadline, if any is open.
    std::optional<Clock::time_point> next_deadline() const;
    std::size_t open_connections() const { return m_connections.size(); }
    int port() const { return m_port; }

private:
    struct Connection {
        util::Fd fd;
        EventRequest request;
        Clock::time_point deadline;
    };
    EventListener(util::Fd fd, int port, std::chrono::milliseconds deadline, std::size_t max)
        : m_fd(std::move(fd)), m_port(port), m_deadline(deadline), m_max(max) {}
    // Reads what is there; true when the connection is done (answered or gone).
    bool serve(Connection& c, Received& received);

    util::Fd m_fd;
    int m_port = 0;
    std::chrono::milliseconds m_deadline;
    std::size_t m_max;
    std::vector<Connection> m_connections;
    Clock::time_point m_accept_again{}; // after a failed accept
};

} // namespace backup::core
