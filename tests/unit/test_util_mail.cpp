// Mail messages for sendmail: the date format, and header fields that no value can break out of.
#include "util/mail.hpp"

#include <catch2/catch.hpp>

#include <openssl/evp.h>

using namespace backup::util;

namespace {

// The text of one RFC 2047 B-encoded word.
std::string decode_word(const std::string& word) {
    REQUIRE(word.starts_with("=?UTF-8?B?"));
    REQUIRE(word.ends_with("?="));
    std::string b64 = word.substr(10, word.size() - 12);
    std::string out(b64.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(b64.data()),
                            static_cast<int>(b64.size()));
    REQUIRE(n >= 0);
    out.resize(static_cast<std::size_t>(n));
    while (b64.ends_with('=')) { // EVP_DecodeBlock counts the padding as zero bytes
        b64.pop_back();
        out.pop_back();
    }
    return out;
}

} // namespace

TEST_CASE("mail: RFC 5322 dates, in English and UTC") {
    CHECK(mail_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK(mail_date(1'800'000'000) == "Fri, 15 Jan 2027 08:00:00 +0000");
    CHECK(mail_date(951'782'400) == "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST_CASE("mail: a header value stays one field, and what is not ASCII is encoded") {
    CHECK(mail_header_text("backup server b1: 2 failing") == "backup server b1: 2 failing");
    CHECK(mail_header_text("x\r\nBcc: evil@example.com") == "x  Bcc: evil@example.com");
    CHECK(mail_header_text("a\nb\tc\x1b[31m") == "a b c [31m");

    std::string text = "Sicherung auf \xc3\xbc"
                       "bersee: 2 fehlgeschlagen, Stra\xc3\x9f"
                       "e "
                       "\xe2\x86\x92 ok, und noch viel mehr Text, damit es mehrere Worte werden";
    std::string encoded = mail_header_text(text);
    INFO(encoded);
    CHECK(encoded.find('\r') == std::string::npos);
    std::string decoded;
    std::size_t at = 0;
    while (at < encoded.size()) {
        auto end = encoded.find("\n ", at);
        std::string word = encoded.substr(at, end == std::string::npos ? end : end - at);
        CHECK(word.size() <= 75);
        for (char c : word) {
            CHECK(static_cast<unsigned char>(c) < 0x80);
        }
        decoded += decode_word(word);
        at = end == std::string::npos ? encoded.size() : end + 2;
    }
    CHECK(decoded == text);
    CHECK(encoded.find("\n ") != std::string::npos); // folded onto more than one line
}

TEST_CASE("mail: the whole message, with its body made safe") {
    MailMessage m;
    m.from = "backup@example.com";
    m.to = {"ops@example.com", "b@example.com\r\nBcc: evil@example.com"};
    m.subject = "ok";
    m.date = 0;
    m.message_id = "1.abc@b1";
    m.extra_headers = {{"Auto-Submitted", "auto-generated\nX-Evil: 1"},
                       {"Bcc: evil@example.com\nX", "1"},
                       {"", "empty"}};
    m.body = "line one\r\n.\n" + std::string(2000, 'x') + "\nbad \xff byte";
    std::string text = render_mail(m);
    auto head_end = text.find("\n\n");
    REQUIRE(head_end != std::string::npos);
    std::string head = text.substr(0, head_end + 1);
    CHECK(head == "Date: Thu, 01 Jan 1970 00:00:00 +0000\n"
                  "From: backup@example.com\n"
                  "To: ops@example.com, b@example.com  Bcc: evil@example.com\n"
                  "Subject: ok\n"
                  "Message-ID: <1.abc@b1>\n"
                  "Auto-Submitted: auto-generated X-Evil: 1\n"
                  "MIME-Version: 1.0\n"
                  "Content-Type: text/plain; charset=utf-8\n"
                  "Content-Transfer-Encoding: 8bit\n");
    std::string body = text.substr(head_end + 2);
    CHECK(body.starts_with("line one\n.\n"));
    CHECK(body.find('\r') == std::string::npos);
    CHECK(body.find(std::string(995, 'x') + "...\n") != std::string::npos);
    CHECK(body.ends_with("bad \xef\xbf\xbd byte\n"));
}
