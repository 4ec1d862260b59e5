#include "status/notify_message.hpp"

#include <algorithm>

#include <fmt/ranges.h>

#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::Json;

namespace {

bool announces_trouble(const NotifyMessage& m) {
    return std::any_of(m.events.begin(), m.events.end(),
                       [](const NotifyEvent& e) { return e.to != "ok"; });
}

std::string headline(const NotifyEvent& e) {
    std::string label = notify_label(e.row, e.name);
    std::string change;
    if (e.from == "unknown") {
        change = e.to;
    } else if (e.from == e.to) {
        change = fmt::format("still {}, with new problems", e.to);
    } else if (e.to == "ok") {
        change = fmt::format("back to ok (was {})", e.from);
    } else {
        change = fmt::format("{} -> {}", e.from, e.to);
    }
    return util::one_line(fmt::format("{}: {} ({})", label, change, util::format_time(e.time)));
}

// Header values are ASCII here (ntfy's Title): anything else would need an encoding that not
// every receiver decodes.
std::string ascii_header_value(std::string_view text) {
    std::string out = util::one_line(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            c = '?';
        }
    }
    return util::truncate_utf8(out, 200);
}

// Slack's mrkdwn gives &, < and > a meaning of their own.
std::string slack_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string dump(const Json& json) {
    return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace

std::string notify_summary(const NotifyMessage& m) {
    std::size_t failing = 0, stale = 0, ok = 0;
    for (const auto& e : m.events) {
        (e.to == "ok" ? ok : e.to == "stale" ? stale : failing) += 1;
    }
    std::vector<std::string> parts;
    if (failing > 0) {
        parts.push_back(fmt::format("{} failing", failing));
    }
    if (stale > 0) {
        parts.push_back(fmt::format("{} stale", stale));
    }
    if (ok > 0) {
        parts.push_back(fmt::format("{} back to ok", ok));
    }
    if (parts.empty()) {
        parts.push_back(m.alerting.empty() ? "all is well"
                                           : fmt::format("{} need a person", m.alerting.size()));
    }
    return util::one_line(fmt::format("backup server {}: {}", m.server, fmt::join(parts, ", ")));
}

std::string notify_text(const NotifyMessage& m, bool with_summary) {
    std::string out = with_summary ? notify_summary(m) + "\n\n" : "";
    for (const auto& e : m.events) {
        out += headline(e) + "\n";
        for (const auto& p : e.problems) {
            out += fmt::format("  - {} [{}]\n", util::one_line(p.message), util::one_line(p.kind));
        }
        out += "\n";
    }
    if (m.alerting.empty()) {
        out += "Nothing needs a person now.\n";
    } else {
        out +=
            util::one_line(fmt::format("Needing a person now: {}.", fmt::join(m.alerting, ", ")));
        out += "\n";
    }
    return out +
           util::one_line(fmt::format("-- backup-status on {}, server root {}", m.server, m.root)) +
           "\n";
}

Json notify_json(const NotifyMessage& m) {
    Json events = Json::array();
    for (const auto& e : m.events) {
        events.push_back(notify_event_json(e));
    }
    return {{"schema", k_notify_body_schema},
            {"server", m.server},
            {"root", m.root},
            {"time", util::format_time(m.time)},
            {"healthy", m.healthy},
            {"summary", notify_summary(m)},
            {"alerting", m.alerting},
            {"events", std::move(events)}};
}

WebhookRequest webhook_request(const NotifyMessage& m, std::string_view format,
                               const std::string& bearer) {
    WebhookRequest r;
    bool trouble = announces_trouble(m);
    if (format == "slack") {
        r.headers = {"Content-Type: application/json"};
        r.body = dump({{"text", slack_escape(notify_summary(m)) + "\n" +
                                    slack_escape(notify_text(m, false))}});
    } else if (format == "ntfy") {
        r.headers = {"Content-Type: text/plain; charset=utf-8",
                     "Title: " + ascii_header_value(notify_summary(m)),
                     trouble ? "Priority: high" : "Priority: default",
                     trouble ? "Tags: warning" : "Tags: white_check_mark"};
        r.body = notify_text(m, false);
    } else if (format == "gotify") {
        r.headers = {"Content-Type: application/json"};
        r.body = dump({{"title", notify_summary(m)},
                       {"message", notify_text(m, false)},
                       {"priority", trouble ? 8 : 4}});
    } else if (format == "healthchecks") {
        r.url_suffix = m.healthy ? "" : "/fail";
        r.headers = {"Content-Type: text/plain; charset=utf-8"};
        r.body = notify_text(m, true);
    } else {
        r.headers = {"Content-Type: application/json"};
        r.body = dump(notify_json(m));
    }
    if (!bearer.empty()) {
        r.headers.push_back("Authorization: Bearer " + bearer);
    }
    return r;
}

util::MailMessage notify_mail(const NotifyMessage& m, const NotifyTarget& target,
                              const std::string& message_id) {
    util::MailMessage mail;
    mail.from = target.from.empty() ? "restic-backup@" + m.server : target.from;
    mail.to = target.to;
    mail.subject = notify_summary(m);
    mail.date = m.time;
    mail.message_id = message_id;
    // RFC 3834: no vacation replies to this.
    mail.extra_headers = {{"Auto-Submitted", "auto-generated"}};
    mail.body = notify_text(m, false);
    return mail;
}

util::Environment notify_command_environment(const NotifyMessage& m, const NotifyTarget& target,
                                             util::Environment base) {
    std::string json = dump(notify_json(m));
    if (json.size() <= k_notify_env_limit) {
        base["BACKUP_STATUS_EVENTS"] = json;
    } else {
        base.erase("BACKUP_STATUS_EVENTS");
    }
    base["BACKUP_STATUS_SUMMARY"] = notify_summary(m);
    base["BACKUP_STATUS_HEALTHY"] = m.healthy ? "1" : "0";
    base["BACKUP_STATUS_SERVER"] = m.server;
    base["BACKUP_STATUS_TARGET"] = target.name;
    return base;
}

} // namespace backup::core
