#include "util/sigv4.hpp"

#include "util/sha256.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace backup::util {

namespace {

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    ::HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
    return std::string(reinterpret_cast<const char*>(out), size);
}

std::string trim(std::string_view s) {
    auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    auto last = s.find_last_not_of(" \t");
    return std::string(s.substr(first, last - first + 1));
}

} // namespace

std::string sigv4_uri_encode(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (plain) {
            out.push_back(static_cast<char>(c));
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

std::string sigv4_canonical_query(const std::map<std::string, std::string>& query) {
    std::map<std::string, std::string> encoded;
    for (const auto& [name, value] : query) {
        encoded[sigv4_uri_encode(name)] = sigv4_uri_encode(value);
    }
    std::string out;
    for (const auto& [name, value] : encoded) {
        out += (out.empty() ? "" : "&") + name + "=" + value;
    }
    return out;
}

std::string sigv4_authorization(const SigV4Request& request, const SigV4Credentials& credentials,
                                std::string_view amz_date) {
    std::string canonical_headers;
    std::string signed_headers;
    for (const auto& [name, value] : request.headers) { // std::map: sorted by name
        canonical_headers += name + ":" + trim(value) + "\n";
        signed_headers += (signed_headers.empty() ? "" : ";") + name;
    }
    std::string canonical_request =
        fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method,
                    request.path.empty() ? "/" : request.path, sigv4_canonical_query(request.query),
                    canonical_headers, signed_headers, request.payload_sha256);
    std::string date(amz_date.substr(0, 8));
    std::string scope =
        fmt::format("{}/{}/{}/aws4_request", date, credentials.region, credentials.service);
    std::string to_sign =
        fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date, scope, sha256_hex(canonical_request));
    std::string key = hmac_sha256("AWS4" + credentials.secret_key, date);
    key = hmac_sha256(key, credentials.region);
    key = hmac_sha256(key, credentials.service);
    key = hmac_sha256(key, "aws4_request");
    std::string signature = hmac_sha256(key, to_sign);
    return fmt::format(
        "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}", credentials.access_key,
        scope, signed_headers,
        to_hex(reinterpret_cast<const std::uint8_t*>(signature.data()), signature.size()));
}

} // namespace backup::util
