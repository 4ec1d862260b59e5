// server.yaml's status: what backup-status judges beyond each client's own settings, and whom
// --notify tells.
//
//   status:
//     fill_warning: 14d          # a filesystem that fills sooner at its rate is a problem
//     notify_min_interval: 10m   # at most one message per target this often (the rest waits)
//     sendmail: /usr/sbin/sendmail
//     notify:                    # any number of targets, each one of:
//       - {name: phone, webhook: https://ntfy.example.com/backups, format: ntfy,
//          token_file: /etc/restic-backup/ntfy-token}
//       - {webhook: 'https://hooks.slack.com/services/{token}', format: slack,
//          token_file: /etc/restic-backup/slack-path}
//       - {email: [ops@example.com], from: backup@example.com}
//       - {command: [/usr/local/bin/page-oncall, --team, backup], timeout: 1m}
// Every target also takes name, min_interval (its own rate limit; 0: none) and timeout.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::util {
class YamlMap;
}

namespace backup::core {

struct NotifyTarget {
    enum class Kind { webhook, email, command };
    Kind kind = Kind::webhook;
    // For messages and the notify state: as given, else made from the target ("webhook
    // ntfy.example.com", "email ops@example.com", "command page-oncall").
    std::string name;
    // At most one message this often (else status.notify_min_interval); zero: no limit.
    std::optional<std::chrono::seconds> min_interval;
    // A delivery that takes longer fails (and is retried next run).
    std::chrono::seconds timeout{30};

    // webhook: an HTTP POST to url: https, or plain http to this machine only (127.0.0.0/8,
    // [::1], localhost), since anything else would carry the token and the report in clear.
    std::string url;
    // The body: json (documented, schema 1), slack ({"text"}: Slack, Mattermost, Rocket.Chat),
    // ntfy (plain text with Title and Priority headers), gotify ({"title", "message",
    // "priority"}), healthchecks (POST to url when all is well, to url/fail when not).
    std::string format = "json";
    // A file whose content (one line) is sent as "Authorization: Bearer ...", or takes the place
    // of "{token}" in url (a Slack webhook's path, a healthchecks ping key); never in the config
    // itself. Must be private (0600 or stricter), and is read when a message goes out.
    std::string token_file;
    // The CAs (PEM) to verify the server's certificate against instead of the system's: an
    // internal ntfy with a private CA.
    std::string ca_file;

    // email: through the system's sendmail (-t -oi), to every address.
    std::vector<std::string> to;
    std::string from;

    // command: run with this argv (no shell), the details in its environment and on stdin.
    std::vector<std::string> argv;
};

// The placeholder in a webhook URL that the token file's content replaces.
inline constexpr std::string_view k_token_placeholder = "{token}";

// The webhook formats NotifyTarget::format accepts.
inline constexpr std::string_view k_webhook_formats[] = {"json", "slack", "ntfy", "gotify",
                                                         "healthchecks"};

struct StatusSettings {
    std::chrono::seconds fill_warning{14LL * 86400};
    std::chrono::seconds notify_min_interval{600};
    std::string sendmail = "/usr/sbin/sendmail";
    std::vector<NotifyTarget> notify;
};

// Reads status: from the server config's top level into settings; problems are recorded on top.
void read_status_settings(util::YamlMap& top, StatusSettings& settings);

} // namespace backup::core
