// AWS Signature Version 4 (header form) with OpenSSL's HMAC-SHA256: enough to call an S3-style
// API (versitygw's admin API) without a command line tool, so no secret is ever in argv.
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <string_view>

namespace backup::util {

struct SigV4Request {
    std::string method;                         // "GET", "PATCH"...
    std::string path;                           // absolute, already URI-encoded ("/a/b")
    std::map<std::string, std::string> query;   // raw names and values (encoded when signing)
    std::map<std::string, std::string> headers; // lowercase names; must include "host"
    std::string payload_sha256;                 // hex SHA-256 of the body
};

struct SigV4Credentials {
    std::string access_key;
    std::string secret_key;
    std::string region = "us-east-1";
    std::string service = "s3";
};

// RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ as %XX (uppercase).
std::string sigv4_uri_encode(std::string_view text);
// The canonical query string: names and values encoded, sorted by name.
std::string sigv4_canonical_query(const std::map<std::string, std::string>& query);
// The x-amz-date of a request is util::format_compact_time (util/time.hpp).

// Signs the request at amz_date ("YYYYMMDDTHHMMSSZ", which must also be the request's
// x-amz-date header): returns the Authorization header value. Every header in request.headers
// is signed.
std::string sigv4_authorization(const SigV4Request& request, const SigV4Credentials& credentials,
                                std::string_view amz_date);

} // namespace backup::util
