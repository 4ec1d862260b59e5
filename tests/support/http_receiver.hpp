// A tiny HTTP/1.1 server on loopback for tests of what the toolkit sends: it records every request
// before it answers it (so a client that got its answer finds its request recorded), answers with
// the status the test sets, and can be stopped, after which its port refuses connections. With a
// certificate and key it speaks TLS. One connection at a time, one request per connection.
// Made not listening, it holds its port (bound, so no one else takes it) and refuses connections
// until start(): a webhook target that is down, then comes up on the same URL.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/fd.hpp"

namespace backup::test {

class HttpReceiver {
public:
    struct Request {
        std::string method;
        std::string target;                         // path and query
        std::map<std::string, std::string> headers; // names in lowercase
        std::string body;
        std::string header(const std::string& name) const;
    };
    struct Tls {
        std::string certificate_pem; // the server's certificate (and chain)
        std::string key_pem;
    };

    // Listens on 127.0.0.1, on a port the kernel picks (free by construction); with listening
    // false, only once start() is called.
    explicit HttpReceiver(std::optional<Tls> tls = std::nullopt, bool listening = true);
    HttpReceiver(const HttpReceiver&) = delete;
    HttpReceiver& operator=(const HttpReceiver&) = delete;
    ~HttpReceiver();

    int port() const { return m_port; }
    // "http://127.0.0.1:PORT" + path ("https://..." with TLS).
    std::string url(const std::string& path = "/") const;
    // The status every later request is answered with (200 at first).
    void answer(int status) { m_status = status; }
    // Starts listening (once; a receiver made listening already is).
    void start();
    // Stops listening and joins the thread: later connections are refused.
    void stop();

    std::vector<Request> requests() const;
    std::size_t count() const;

private:
    void serve();
    void handle(int fd);

    std::optional<Tls> m_tls;
    void* m_ssl_ctx = nullptr; // SSL_CTX, when m_tls
    util::Fd m_listen;
    util::Fd m_wake_read;
    util::Fd m_wake_write;
    int m_port = 0;
    std::atomic<int> m_status{200};
    mutable std::mutex m_mutex;
    std::vector<Request> m_requests;
    std::thread m_thread;
};

} // namespace backup::test
