// HTTP(S) requests through libcurl: the toolkit's client for anything that leaves this machine
// (util/http is only for admin APIs on it). TLS verification is always on, against the system's
// CAs or a given CA file; redirects are never followed, only http and https are spoken, and the
// proxy variables (https_proxy, no_proxy) are honoured as libcurl does.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::util {

struct CurlPost {
    std::string url;
    // "Name: value" lines. One holding a CR, LF or NUL is refused (100), so that no value can
    // add a header of its own.
    std::vector<std::string> headers;
    std::string body;
    std::string
        ca_file; // PEM file of the CAs to trust instead of the system's; empty: the system's
    std::chrono::milliseconds timeout{30000}; // for the whole request, connecting included
};

struct CurlReply {
    long status = 0;
    std::string body; // at most k_curl_reply_limit bytes of it
};

inline constexpr std::size_t k_curl_reply_limit = 64 * 1024;

// The host of an http(s) URL ("ntfy.example.com", "127.0.0.1"), or "" when it has none: for
// messages, which never show a whole URL (its path or query may be a secret).
std::string url_host(const std::string& url);

// POSTs body to url and returns the server's reply, whatever its status. Failing to connect, to
// verify the server's certificate or to finish in time is 111, a malformed URL or header 100;
// the message names the host, never the whole URL.
Expected<CurlReply> curl_post(const CurlPost& request);

} // namespace backup::util
