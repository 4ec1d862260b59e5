// What --notify says, in each target's form: a summary line, a text for people, the documented
// JSON body, each webhook format's request, the mail and the command's environment. Pure: the
// token, the host name and the Message-ID come in as arguments.
//
// The JSON body (webhook format json, and the command's stdin and BACKUP_STATUS_EVENTS), schema 1:
//   {"schema": 1, "server": HOST, "root": "/backups", "time": TIME, "healthy": false,
//    "summary": "backup server HOST: 1 stale, 1 back to ok", "alerting": ["web1", ...],
//    "events": [{"row": "client", "name": "web1", "from": "ok", "to": "stale", "time": TIME,
//                "problems": [{"kind": "stale", "subject": "snapshots", "message": "..."}]}]}
// healthy: nothing on the server needs a person now; alerting: the rows that alert now.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/status_settings.hpp"
#include "status/notify.hpp"
#include "util/json.hpp"
#include "util/mail.hpp"
#include "util/process.hpp"

namespace backup::core {

inline constexpr int k_notify_body_schema = 1;

// "backup server HOST: 2 failing, 1 stale, 1 back to ok"; with no events (a healthchecks ping)
// "backup server HOST: all is well" or "... 2 need a person".
std::string notify_summary(const NotifyMessage& message);

// For people: the summary (when with_summary), a section per event with its problems, and what
// alerts now. Untrusted text (problem messages name files and quote remote errors) is made one
// line each.
std::string notify_text(const NotifyMessage& message, bool with_summary);

util::Json notify_json(const NotifyMessage& message);

// A webhook's POST: what goes after the URL ("/fail" for a failing healthchecks ping), the
// headers and the body.
struct WebhookRequest {
    std::string url_suffix;
    std::vector<std::string> headers;
    std::string body;
};
// For format (one of k_webhook_formats); bearer, when not empty, goes in an Authorization header.
WebhookRequest webhook_request(const NotifyMessage& message, std::string_view format,
                               const std::string& bearer);

// The mail to target (an email target): From is target.from, else restic-backup@HOST.
util::MailMessage notify_mail(const NotifyMessage& message, const NotifyTarget& target,
                              const std::string& message_id);

// The command's environment: base with BACKUP_STATUS_EVENTS (the JSON body, left out when over
// k_notify_env_limit: then only stdin has it), BACKUP_STATUS_SUMMARY, BACKUP_STATUS_HEALTHY (1 or
// 0), BACKUP_STATUS_SERVER and BACKUP_STATUS_TARGET.
inline constexpr std::size_t k_notify_env_limit = 64 * 1024;
util::Environment notify_command_environment(const NotifyMessage& message,
                                             const NotifyTarget& target, util::Environment base);

} // namespace backup::core
