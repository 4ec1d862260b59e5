// HTTP(S) requests through libcurl: the toolkit's client for anything that leaves this machine
// (util/http is only for admin APIs on it). TLS verification is always on, against the system's
// CAs or a given CA file; redirects are never followed, only http and https are spoken, and the
// proxy variables (https_proxy, no_proxy) are honoured as libcurl does.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::util {

inline constexpr std::size_t k_curl_reply_limit = 64 * 1024;

struct CurlPost {
    std::string url;
    // "Name: value" lines. One holding a CR, LF or NUL is refused (100), so that no value can
    // add a header of its own.
    std::vector<std::string> headers;
    std::string body;
    std::string
        ca_file; // PEM file of the CAs to trust instead of the system's; empty: the system's
    std::chrono::milliseconds timeout{30000}; // for the whole request, connecting included;
                                              // 0: no limit (connecting still within 30 s)
    // When set, the connection goes to this UNIX socket (the URL's host is then only a name):
    // for daemons of this toolkit's own, such as rclone_rc.hpp's, in a private directory.
    std::string unix_socket;
    bool get = false; // a GET instead of a POST (body unused)
    // The longest reply body kept in CurlReply::body; longer ones are cut there.
    std::size_t reply_limit = k_curl_reply_limit;
    // When set, a 2xx reply's body goes here, chunk by chunk, instead of into CurlReply::body
    // (another status's body still goes there); returning false aborts the transfer (curl_post
    // then fails with 111).
    std::function<bool(std::string_view chunk)> sink;
};

struct CurlReply {
    long status = 0;
    std::string body; // at most reply_limit bytes of it (nothing with a sink)
};

// The host of an http(s) URL ("ntfy.example.com", "127.0.0.1"), or "" when it has none: for
// messages, which never show a whole URL (its path or query may be a secret).
std::string url_host(const std::string& url);

// POSTs body to url and returns the server's reply, whatever its status. Failing to connect, to
// verify the server's certificate or to finish in time is 111, a malformed URL or header 100;
// the message names the host, never the whole URL.
Expected<CurlReply> curl_post(const CurlPost& request);

} // namespace backup::util
