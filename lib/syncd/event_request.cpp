#include "syncd/event_request.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "util/json.hpp"

namespace backup::core {

namespace {

constexpr std::string_view k_end_of_head = "\r\n\r\n";
constexpr int k_max_json_depth = 32;

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

std::string_view trim(std::string_view text) {
    auto begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) {
        return {};
    }
    return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

const char* reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Error";
    }
}

// nlohmann's parser keeps its own stack, but a value nested thousands deep is still thousands
// of nested objects to build and destroy: such a body is refused before it is parsed.
bool nested_deeper_than(std::string_view text, int limit) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) {
                return true;
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

// S3 event keys are URL-encoded ("a+b" for "a b"); undecodable escapes stay as they are.
std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        unsigned value = 0;
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() &&
                   std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr ==
                       text.data() + i + 3) {
            out += static_cast<char>(value);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// Whether a directory of the key (not its last component) is "snapshots".
bool key_in_snapshots(std::string_view key) {
    for (std::size_t slash; (slash = key.find('/')) != std::string_view::npos;) {
        if (key.substr(0, slash) == "snapshots") {
            return true;
        }
        key.remove_prefix(slash + 1);
    }
    return false;
}

const util::Json* member(const util::Json& object, const char* name) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto it = object.find(name);
    return it == object.end() ? nullptr : &*it;
}

} // namespace

EventRequest::State EventRequest::reject(int status) {
    m_status = status;
    m_state = State::rejected;
    return m_state;
}

EventRequest::State EventRequest::add(std::string_view bytes) {
    if (m_state != State::reading) {
        return m_state;
    }
    if (!m_head_done) {
        std::size_t searched = m_head.size() >= 3 ? m_head.size() - 3 : 0;
        std::size_t room = k_max_event_head + k_end_of_head.size() - m_head.size();
        std::size_t taken = std::min(room, bytes.size());
        m_head.append(bytes.substr(0, taken));
        auto end = m_head.find(k_end_of_head, searched);
        if (end == std::string::npos) {
            return m_head.size() >= k_max_event_head + k_end_of_head.size() ? reject(431) : m_state;
        }
        std::string rest = m_head.substr(end + k_end_of_head.size());
        rest.append(bytes.substr(taken));
        m_head.resize(end);
        m_head_done = true;
        if (parse_head(m_head) != State::reading) {
            return m_state;
        }
        m_continue = m_continue && rest.empty() && m_length > 0;
        bytes = rest;
        return add_body(bytes);
    }
    return add_body(bytes);
}

EventRequest::State EventRequest::add_body(std::string_view bytes) {
    m_body.append(bytes.substr(0, m_length - m_body.size()));
    if (m_body.size() == m_length) {
        m_status = 200;
        m_state = State::complete;
    }
    return m_state;
}

// The request line and the headers that matter here: Content-Length, Transfer-Encoding, Expect.
EventRequest::State EventRequest::parse_head(std::string_view head) {
    auto line_end = head.find("\r\n");
    std::string_view first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 == sp1 ||
        !first.substr(sp2 + 1).starts_with("HTTP/1.")) {
        return reject(400);
    }
    if (first.substr(0, sp1) != "POST") {
        return reject(405);
    }
    std::optional<std::size_t> length;
    bool chunked = false;
    while (line_end != std::string_view::npos) {
        head.remove_prefix(line_end + 2);
        line_end = head.find("\r\n");
        std::string_view line = head.substr(0, line_end);
        auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return reject(400);
        }
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim(line.substr(colon + 1));
        if (equals_ignoring_case(name, "content-length")) {
            std::size_t n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec == std::errc::result_out_of_range) {
                return reject(413);
            }
            if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
                (length && *length != n)) {
                return reject(400);
            }
            length = n;
        } else if (equals_ignoring_case(name, "transfer-encoding")) {
            chunked = true;
        } else if (equals_ignoring_case(name, "expect")) {
            m_continue = equals_ignoring_case(value, "100-continue");
        }
    }
    if (chunked) {
        return reject(411);
    }
    m_length = length.value_or(0);
    if (m_length > k_max_event_body) {
        return reject(413);
    }
    return m_state;
}

bool EventRequest::take_continue() {
    return std::exchange(m_continue, false) && m_state == State::reading;
}

std::string EventRequest::response() const {
    return fmt::format("HTTP/1.1 {} {}\r\nContent-Length: 0\r\nConnection: close\r\n{}\r\n",
                       m_status, reason(m_status), m_status == 405 ? "Allow: POST\r\n" : "");
}

bool event_may_concern_snapshots(std::string_view body) {
    if (nested_deeper_than(body, k_max_json_depth)) {
        return true;
    }
    util::Json json = util::Json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
        return true;
    }
    const util::Json* records = member(json, "Records");
    if (!records) {
        const util::Json* event = member(json, "Event");
        return !(event && *event == "s3:TestEvent");
    }
    if (!records->is_array() || records->empty()) {
        return true;
    }
    for (const auto& record : *records) {
        const util::Json* s3 = member(record, "s3");
        const util::Json* object = s3 ? member(*s3, "object") : nullptr;
        const util::Json* key = object ? member(*object, "key") : nullptr;
        if (!key || !key->is_string() ||
            key_in_snapshots(percent_decode(key->get_ref<const std::string&>()))) {
            return true;
        }
    }
    return false;
}

} // namespace backup::core
