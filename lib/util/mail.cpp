#include "util/mail.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "util/text.hpp"

namespace backup::util {

namespace {

// RFC 2047 wants at most 75 characters an encoded word: 45 bytes are 60 in base64, 72 with
// "=?UTF-8?B?" and "?=".
constexpr std::size_t k_encoded_word_bytes = 45;
constexpr std::size_t k_max_line = 998;

std::string base64(std::string_view data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(data.data()),
                            static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool is_ascii(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return false;
        }
    }
    return true;
}

std::string body_text(std::string_view body) {
    std::string out;
    std::string text = to_valid_utf8(body);
    std::erase(text, '\r');
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        out += truncate_utf8(std::string_view(text).substr(start, end - start), k_max_line);
        out += '\n';
        start = end + 1;
    }
    return out;
}

// RFC 5322's field-name: printable ASCII but ':'.
bool is_field_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](char c) { return c > 0x20 && c < 0x7f && c != ':'; });
}

} // namespace

std::string mail_date(std::int64_t unix_seconds) {
    static constexpr const char* k_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", k_days[tm.tm_wday], tm.tm_mday,
                       k_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string mail_header_text(std::string_view text) {
    std::string clean = one_line(text);
    if (is_ascii(clean)) {
        return truncate_utf8(clean, k_max_line - 100);
    }
    std::string out;
    std::size_t at = 0;
    while (at < clean.size()) {
        std::size_t end = at;
        while (end < clean.size()) {
            std::size_t next = end + decode_rune(clean, end).size;
            if (next - at > k_encoded_word_bytes) {
                break;
            }
            end = next;
        }
        if (!out.empty()) {
            out += "\n "; // folding: the white space between encoded words is not shown
        }
        out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(at, end - at)) + "?=";
        at = end;
    }
    return out;
}

std::string render_mail(const MailMessage& m) {
    std::string to;
    for (const auto& address : m.to) {
        to += (to.empty() ? "" : ", ") + one_line(address);
    }
    std::string out = fmt::format("Date: {}\nFrom: {}\nTo: {}\nSubject: {}\nMessage-ID: <{}>\n",
                                  mail_date(m.date), one_line(m.from), to,
                                  mail_header_text(m.subject), one_line(m.message_id));
    for (const auto& [name, value] : m.extra_headers) {
        if (!is_field_name(name)) {
            continue;
        }
        out += fmt::format("{}: {}\n", name, one_line(value));
    }
    out += "MIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: 8bit\n"
           "\n";
    return out + body_text(m.body);
}

} // namespace backup::util
