#include "model/status_settings.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <filesystem>

#include <fmt/format.h>

#include "util/yaml.hpp"

namespace backup::core {

namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds k_max_notify_timeout{600};

bool is_absolute(const std::string& path) {
    return fs::path(path).is_absolute();
}

// The authority (user@host:port) of an http(s) URL, or "" when it is not one.
std::string url_authority(const std::string& url) {
    for (std::string_view scheme : {"https://", "http://"}) {
        if (url.starts_with(scheme)) {
            std::string rest = url.substr(scheme.size());
            return rest.substr(0, rest.find_first_of("/?#"));
        }
    }
    return {};
}

// Whether the host of an authority is this machine: plain http goes nowhere else.
bool is_loopback(const std::string& authority) {
    std::string host = authority.starts_with('[') ? authority.substr(0, authority.find(']') + 1)
                                                  : authority.substr(0, authority.find(':'));
    in_addr v4{};
    return host == "localhost" || host == "[::1]" ||
           (host.starts_with("127.") && ::inet_pton(AF_INET, host.c_str(), &v4) == 1);
}

void check_url(util::YamlMap& item, const NotifyTarget& t, const std::string& authority) {
    if (authority.empty()) {
        item.problem("webhook", "expected an http:// or https:// URL");
    } else if (authority.find('@') != std::string::npos) {
        // The config is readable by more than root; a secret goes in a private file.
        item.problem("webhook", "credentials do not belong in the URL: use token_file");
    } else if (authority.find('{') != std::string::npos) {
        item.problem("webhook", "{token} may stand in the path or query only");
    } else if (t.url.starts_with("http://") && !is_loopback(authority)) {
        item.problem("webhook", "plain http:// only to this machine (127.0.0.1, [::1], "
                                "localhost): use https://, with ca_file for a private CA");
    }
    if (t.url.find_first_of(" \t\r\n") != std::string::npos) {
        item.problem("webhook", "the URL holds white space");
    }
    if (t.url.find(k_token_placeholder) != std::string::npos && t.token_file.empty()) {
        item.problem("webhook", "{token} in the URL needs token_file");
    }
}

void read_webhook(util::YamlMap& item, NotifyTarget& t) {
    t.kind = NotifyTarget::Kind::webhook;
    t.url = item.string("webhook").value_or("");
    t.format = item.string("format").value_or(t.format);
    if (std::find(std::begin(k_webhook_formats), std::end(k_webhook_formats), t.format) ==
        std::end(k_webhook_formats)) {
        item.problem("format", "expected json, slack, ntfy, gotify or healthchecks");
    }
    t.token_file = item.string("token_file").value_or("");
    if (!t.token_file.empty() && !is_absolute(t.token_file)) {
        item.problem("token_file", "expected an absolute path");
    }
    t.ca_file = item.string("ca_file").value_or("");
    if (!t.ca_file.empty() && !is_absolute(t.ca_file)) {
        item.problem("ca_file", "expected an absolute path");
    }
    std::string authority = url_authority(t.url);
    check_url(item, t, authority);
    if (t.name.empty()) {
        t.name = "webhook " + authority;
    }
}

void read_email(util::YamlMap& item, NotifyTarget& t) {
    t.kind = NotifyTarget::Kind::email;
    if (item.is_scalar("email")) {
        if (auto one = item.string("email")) {
            t.to = {*one};
        }
    } else {
        t.to = item.string_list("email").value_or(std::vector<std::string>{});
    }
    if (t.to.empty()) {
        item.problem("email", "expected an address or a list of addresses");
    }
    for (const auto& address : t.to) {
        // What reaches sendmail's header parsing must be one plain address.
        if (address.find('@') == std::string::npos ||
            address.find_first_of(" \t\r\n,;<>\"") != std::string::npos) {
            item.problem("email", fmt::format("'{}' is not a plain address", address));
        }
    }
    t.from = item.string("from").value_or("");
    if (!t.from.empty() && (t.from.find('@') == std::string::npos ||
                            t.from.find_first_of(" \t\r\n,;<>\"") != std::string::npos)) {
        item.problem("from", "expected a plain address");
    }
    if (t.name.empty() && !t.to.empty()) {
        t.name = "email " + t.to.front();
    }
}

void read_command(util::YamlMap& item, NotifyTarget& t) {
    t.kind = NotifyTarget::Kind::command;
    t.argv = item.string_list("command").value_or(std::vector<std::string>{});
    if (t.argv.empty() || !is_absolute(t.argv.front())) {
        item.problem("command", "expected a list: an absolute program path, then its arguments");
    } else if (t.name.empty()) {
        t.name = "command " + fs::path(t.argv.front()).filename().string();
    }
}

} // namespace

void read_status_settings(util::YamlMap& top, StatusSettings& settings) {
    auto status = top.map("status");
    if (!status) {
        return;
    }
    settings.fill_warning = status->duration("fill_warning").value_or(settings.fill_warning);
    settings.notify_min_interval =
        status->duration("notify_min_interval", true).value_or(settings.notify_min_interval);
    settings.sendmail = status->string("sendmail").value_or(settings.sendmail);
    if (!is_absolute(settings.sendmail)) {
        status->problem("sendmail", "expected an absolute path");
    }
    for (auto& item : status->map_list("notify").value_or(std::vector<util::YamlMap>{})) {
        NotifyTarget t;
        t.name = item.string("name").value_or("");
        t.min_interval = item.duration("min_interval", true);
        t.timeout = item.duration("timeout").value_or(t.timeout);
        if (t.timeout > k_max_notify_timeout) {
            item.problem("timeout", "expected at most 10m");
        }
        int kinds = int(item.has("webhook")) + int(item.has("email")) + int(item.has("command"));
        if (kinds != 1) {
            item.problem("", "expected exactly one of webhook, email or command");
        } else if (item.has("webhook")) {
            read_webhook(item, t);
        } else if (item.has("email")) {
            read_email(item, t);
        } else {
            read_command(item, t);
        }
        item.reject_unknown_keys();
        bool taken = std::any_of(settings.notify.begin(), settings.notify.end(),
                                 [&](const NotifyTarget& o) { return o.name == t.name; });
        if (taken) {
            item.problem("name", fmt::format("'{}' names two targets: give each a name", t.name));
        }
        settings.notify.push_back(std::move(t));
    }
    status->reject_unknown_keys();
}

} // namespace backup::core
