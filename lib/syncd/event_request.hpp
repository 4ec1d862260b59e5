// What backup-syncd's bucket-event listener reads: one HTTP/1.1 request per connection, taken
// apart as its bytes arrive, and whether its S3 event may be about snapshots/. Hand-written
// because it is the listener's boundary: it reads at most k_max_event_head + k_max_event_body
// bytes of whatever reaches the port, and whatever it reads can only make backup-syncd list
// sooner. An event is a hint; a listing stays the only truth.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace backup::core {

inline constexpr std::size_t k_max_event_head = 16 * 1024; // request line and headers
inline constexpr std::size_t k_max_event_body = 64 * 1024;

// One request, fed with the bytes of its connection as they come (any split).
class EventRequest {
public:
    enum class State {
        reading,  // more bytes needed
        complete, // a POST with its whole body: answer 200
        rejected, // anything else (status() says why): answered, not an event
    };

    // Adds bytes read from the connection; bytes after a complete request are ignored.
    State add(std::string_view bytes);
    State state() const { return m_state; }
    // True once, when the head asked "Expect: 100-continue" and the body is still to come.
    bool take_continue();
    // 200 when complete; 400 malformed, 405 not a POST, 411 no Content-Length (chunked), 413
    // body over k_max_event_body, 431 head over k_max_event_head.
    int status() const { return m_status; }
    const std::string& body() const { return m_body; }
    // The whole answer: the status line, Content-Length: 0 and Connection: close.
    std::string response() const;

private:
    State parse_head(std::string_view head);
    State add_body(std::string_view bytes);
    State reject(int status);

    State m_state = State::reading;
    int m_status = 0;
    std::string m_head; // until its end is found
    bool m_head_done = false;
    bool m_continue = false;
    std::size_t m_length = 0;
    std::string m_body;
};

// Whether an event body may be about a repository's snapshots/: false only when it is S3 event
// JSON ({"Records": [...]}, nested at most 32 deep) whose every record names an object key
// (s3.object.key, percent-decoded) with no "snapshots" directory in it (restic's data/, index/,
// locks/ uploads), or S3's test event ({"Event": "s3:TestEvent"}, which versitygw sends when
// it starts). Anything else, a body that does not parse or a record without a key, is true: a
// listing decides.
bool event_may_concern_snapshots(std::string_view body);

} // namespace backup::core
