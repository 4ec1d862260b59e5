// A minimal HTTP/1.1 client for talking to a local server over TCP (one request per connection,
// Connection: close, no TLS, no redirects, no chunked request bodies). Meant for loopback admin
// APIs, where a secret must not go through a command line tool's argv.
#pragma once

#include "util/error.hpp"

#include <chrono>
#include <map>
#include <string>

namespace backup::util {

struct HttpRequest {
    std::string method;
    std::string target;                         // path and query, already encoded
    std::map<std::string, std::string> headers; // Host, Content-Length are added if absent
    std::string body;
};

struct HttpResponse {
    int status = 0;
    std::string body;
};

// Sends request to address:port (IPv4 literal) and reads the whole response (the body is
// de-chunked when the server chunks it). A connection or I/O failure is 111.
Expected<HttpResponse> http_request(const std::string& address, int port,
                                    const HttpRequest& request,
                                    std::chrono::seconds timeout = std::chrono::seconds(30));

} // namespace backup::util
