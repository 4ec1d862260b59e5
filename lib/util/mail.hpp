// Internet mail messages (RFC 5322) for the system's sendmail: dates, header fields that no value
// can break out of, and the whole message. The message is written by hand because it is small and
// a security boundary: what goes into a header comes from file names and remote errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace backup::util {

// "Wed, 02 Dec 2026 01:50:29 +0000": RFC 5322's date-time, in UTC, in English whatever the locale.
std::string mail_date(std::int64_t unix_seconds);

// An unstructured header value (a Subject) that stays one field: control characters (CR and LF
// among them) become spaces; text that is not plain ASCII becomes RFC 2047 encoded words
// (=?UTF-8?B?...?=), each under 76 characters, folded onto continuation lines.
std::string mail_header_text(std::string_view text);

struct MailMessage {
    std::string from;            // one address (checked by the caller: no spaces, no brackets)
    std::vector<std::string> to; // the same
    std::string subject;         // any text: made one field by mail_header_text
    std::int64_t date = 0;       // unix seconds
    std::string message_id;      // "unique@host", without the angle brackets
    // Further fields in order, e.g. {"Auto-Submitted", "auto-generated"}: names of printable
    // ASCII without ':' (a field with another name is left out), values made one line (control
    // characters become spaces).
    std::vector<std::pair<std::string, std::string>> extra_headers;
    std::string body; // UTF-8 text; line breaks as "\n"
};

// The message as sendmail -t reads it on standard input: Date, From, To, Subject, Message-ID,
// the extra fields, MIME-Version, Content-Type text/plain; charset=utf-8,
// Content-Transfer-Encoding 8bit, a blank line, and the body with CRs dropped, invalid UTF-8
// replaced and every line cut to 998 bytes (RFC 5322's limit). No value can start a field of its
// own: every control character in one becomes a space.
std::string render_mail(const MailMessage& message);

} // namespace backup::util
