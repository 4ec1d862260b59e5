#include "model/status_settings.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "util/yaml.hpp"

namespace backup::core {

namespace {

namespace fs = std::filesystem;

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

void read_webhook(util::YamlMap& item, NotifyTarget& t) {
    t.kind = NotifyTarget::Kind::webhook;
    t.url = item.string("webhook").value_or("");
    std::string host = url_authority(t.url);
    if (host.empty()) {
        item.problem("webhook", "expected an http:// or https:// URL");
    } else if (host.find('@') != std::string::npos) {
        // The config is readable by more than root; a secret goes in a private file.
        item.problem("webhook", "credentials do not belong in the URL: use token_file");
    }
    t.format = item.string("format").value_or(t.format);
    if (std::find(std::begin(k_webhook_formats), std::end(k_webhook_formats), t.format) ==
        std::end(k_webhook_formats)) {
        item.problem("format", "expected json, slack, ntfy, gotify or healthchecks");
    }
    t.token_file = item.string("token_file").value_or("");
    if (!t.token_file.empty() && !is_absolute(t.token_file)) {
        item.problem("token_file", "expected an absolute path");
    }
    if (t.name.empty()) {
        t.name = "webhook " + host;
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
        status->duration("notify_min_interval").value_or(settings.notify_min_interval);
    settings.sendmail = status->string("sendmail").value_or(settings.sendmail);
    if (!is_absolute(settings.sendmail)) {
        status->problem("sendmail", "expected an absolute path");
    }
    for (auto& item : status->map_list("notify").value_or(std::vector<util::YamlMap>{})) {
        NotifyTarget t;
        t.name = item.string("name").value_or("");
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
