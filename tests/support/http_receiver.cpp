#include "support/http_receiver.hpp"

#include <cerrno>
#include <csignal>
#include <functional>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "util/socket.hpp"

namespace backup::test {

namespace {

constexpr std::size_t k_max_request = 4 * 1024 * 1024;

std::string lower(std::string text) {
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

std::string trim(const std::string& text) {
    auto begin = text.find_first_not_of(" \t");
    auto end = text.find_last_not_of(" \t\r");
    return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

SSL_CTX* make_server_context(const HttpReceiver::Tls& tls) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    REQUIRE(ctx != nullptr);
    BIO* cert_bio =
        BIO_new_mem_buf(tls.certificate_pem.data(), static_cast<int>(tls.certificate_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio = BIO_new_mem_buf(tls.key_pem.data(), static_cast<int>(tls.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx, cert) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ok) {
        SSL_CTX_free(ctx);
        FAIL("the receiver's certificate or key does not load");
    }
    return ctx;
}

// One connection's bytes, plain or through TLS.
struct Stream {
    std::function<long(char*, std::size_t)> read;
    std::function<bool(const std::string&)> write;
};

// Reads one request from stream: the head, then Content-Length bytes of body (answering an
// "Expect: 100-continue" first). false when the client went away or sent something else.
bool read_request(Stream& stream, HttpReceiver::Request& request) {
    std::string data;
    char buffer[16384];
    std::size_t head_end;
    while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
        long n = stream.read(buffer, sizeof buffer);
        if (n <= 0 || data.size() > k_max_request) {
            return false;
        }
        data.append(buffer, static_cast<std::size_t>(n));
    }
    std::string head = data.substr(0, head_end);
    std::string body = data.substr(head_end + 4);
    auto line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) {
        return false;
    }
    request.method = first.substr(0, sp1);
    request.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    for (std::size_t at = line_end; at != std::string::npos && at < head.size();) {
        std::size_t next = head.find("\r\n", at + 2);
        std::string line =
            head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        if (auto colon = line.find(':'); colon != std::string::npos) {
            request.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
        }
        at = next;
    }
    if (lower(request.header("expect")) == "100-continue" &&
        !stream.write("HTTP/1.1 100 Continue\r\n\r\n")) {
        return false;
    }
    std::size_t length =
        std::stoul(request.header("content-length").empty() ? std::string("0")
                                                            : request.header("content-length"));
    while (body.size() < length) {
        long n = stream.read(buffer, sizeof buffer);
        if (n <= 0) {
            return false;
        }
        body.append(buffer, static_cast<std::size_t>(n));
    }
    request.body = body.substr(0, length);
    return true;
}

} // namespace

std::string HttpReceiver::Request::header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

HttpReceiver::HttpReceiver(std::optional<Tls> tls, bool listening) : m_tls(std::move(tls)) {
    // A client that refuses the certificate hangs up mid-handshake, and OpenSSL's reply to it
    // (write(2) on the socket) would raise SIGPIPE in the test process: ignored, the write just
    // fails. The programs a test starts get default dispositions (util::Child).
    std::signal(SIGPIPE, SIG_IGN);
    if (m_tls) {
        m_ssl_ctx = make_server_context(*m_tls);
    }
    auto sock = util::bind_tcp("127.0.0.1", 0);
    REQUIRE(sock);
    m_listen = std::move(*sock);
    auto port = util::local_port(m_listen.get());
    REQUIRE(port);
    m_port = *port;
    auto wake = util::make_pipe();
    REQUIRE(wake);
    m_wake_read = std::move(wake->read);
    m_wake_write = std::move(wake->write);
    if (listening) {
        start();
    }
}

void HttpReceiver::start() {
    if (m_thread.joinable()) {
        return;
    }
    REQUIRE(m_listen);
    REQUIRE(::listen(m_listen.get(), 16) == 0);
    m_thread = std::thread([this] { serve(); });
}

HttpReceiver::~HttpReceiver() {
    stop();
    SSL_CTX_free(static_cast<SSL_CTX*>(m_ssl_ctx));
}

std::string HttpReceiver::url(const std::string& path) const {
    return fmt::format("{}://127.0.0.1:{}{}", m_tls ? "https" : "http", m_port, path);
}

void HttpReceiver::stop() {
    if (m_thread.joinable()) {
        REQUIRE(util::write_all(m_wake_write.get(), "x", "wake the receiver"));
        m_thread.join();
    }
    m_listen.reset();
}

std::vector<HttpReceiver::Request> HttpReceiver::requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
}

std::size_t HttpReceiver::count() const {
    std::lock_guard lock(m_mutex);
    return m_requests.size();
}

void HttpReceiver::serve() {
    while (true) {
        pollfd fds[2] = {{m_listen.get(), POLLIN, 0}, {m_wake_read.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            return;
        }
        util::Fd conn(::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (conn) {
            // A client that stalls must not keep the receiver from its next one, or from stopping.
            timeval tv{5, 0};
            ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            handle(conn.get());
        }
    }
}

void HttpReceiver::handle(int fd) {
    SSL* ssl = nullptr;
    Stream stream;
    if (m_ssl_ctx != nullptr) {
        ssl = SSL_new(static_cast<SSL_CTX*>(m_ssl_ctx));
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {
            // A client that does not trust the certificate hangs up here: nothing to record.
            ERR_clear_error();
            SSL_free(ssl);
            return;
        }
        stream.read = [ssl](char* buf, std::size_t n) {
            return static_cast<long>(SSL_read(ssl, buf, static_cast<int>(n)));
        };
        stream.write = [ssl](const std::string& data) {
            return SSL_write(ssl, data.data(), static_cast<int>(data.size())) > 0;
        };
    } else {
        stream.read = [fd](char* buf, std::size_t n) {
            return static_cast<long>(::read(fd, buf, n));
        };
        stream.write = [fd](const std::string& data) {
            return ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
        };
    }
    Request request;
    if (read_request(stream, request)) {
        {
            std::lock_guard lock(m_mutex);
            m_requests.push_back(request);
        }
        int status = m_status;
        std::string body = status < 300 ? "ok\n" : "the receiver was told to fail\n";
        stream.write(fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: "
                                 "{}\r\nConnection: close\r\n\r\n{}",
                                 status, status < 300 ? "OK" : "Internal Server Error", body.size(),
                                 body));
    }
    if (ssl != nullptr) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
}

} // namespace backup::test
