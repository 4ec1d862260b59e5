// A minimal HTTP/1.1 client for talking to a local server over TCP or a UNIX socket (one request
// per connection, Connection: close, no TLS, no redirects, no chunked request bodies). Meant for
// admin APIs on this machine (versitygw's, on a UNIX socket), where a secret must not go through
// a command line tool's argv. Anything that leaves the machine needs TLS and a well-kept client.
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
// The same on the UNIX socket at socket_path (Host defaults to the path).
Expected<HttpResponse> http_request_unix(const std::string& socket_path, const HttpRequest& request,
                                         std::chrono::seconds timeout = std::chrono::seconds(30));

} // namespace backup::util
