#include "status/notify_deliver.hpp"

#include <cctype>
#include <unistd.h>

#include "status/notify_message.hpp"
#include "util/curl.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;

namespace {

// An error's reason without its "unable to ", to follow "unable to notify TARGET: ".
std::string reason(const util::Error& error) {
    std::string_view text = error.message();
    if (text.starts_with("unable to ")) {
        text.remove_prefix(std::string_view("unable to ").size());
    }
    return std::string(text);
}

std::unexpected<util::Error> failed(const NotifyTarget& target, ExitCode code,
                                    std::string_view why) {
    return util::fail(code, "notify {}: {}", target.name, why);
}

// The last line a program wrote on stderr (what it says about its failure), one line, short.
std::string last_line(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    auto at = text.rfind('\n');
    return util::truncate_utf8(util::one_line(at == std::string::npos ? text : text.substr(at + 1)),
                               300);
}

util::Expected<void> run_program(const NotifyTarget& target, util::SpawnOptions options) {
    options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(target.timeout);
    options.stdout_mode = util::Output::capture;
    options.stderr_mode = util::Output::capture;
    auto result = util::run(options);
    if (!result) {
        return failed(target, result.error().code(), reason(result.error()));
    }
    if (!result->success()) {
        std::string said = last_line(result->err);
        return failed(target, ExitCode::temporary,
                      fmt::format("{} {}{}", options.argv.front(), result->describe(),
                                  said.empty() ? "" : ": " + said));
    }
    return {};
}

util::Expected<void> deliver_webhook(const NotifyTarget& target, const NotifyMessage& message) {
    std::string url = target.url;
    std::string bearer;
    if (!target.token_file.empty()) {
        auto at = url.find(k_token_placeholder);
        auto token = read_notify_token(target.token_file, at != std::string::npos);
        if (!token) {
            return failed(target, token.error().code(), reason(token.error()));
        }
        if (at != std::string::npos) {
            url.replace(at, k_token_placeholder.size(), *token);
        } else {
            bearer = *token;
        }
    }
    auto request = webhook_request(message, target.format, bearer);
    util::CurlPost post;
    post.url = url_with_path_suffix(url, request.url_suffix);
    post.headers = request.headers;
    post.body = request.body;
    post.ca_file = target.ca_file;
    post.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(target.timeout);
    auto reply = util::curl_post(post);
    if (!reply) {
        return failed(target, reply.error().code(), reason(reply.error()));
    }
    if (reply->status < 200 || reply->status > 299) {
        std::string said = last_line(reply->body);
        return failed(target, ExitCode::temporary,
                      fmt::format("the server answered HTTP {}{}", reply->status,
                                  said.empty() ? "" : ": " + said));
    }
    return {};
}

util::Expected<void> deliver_email(const NotifyTarget& target, const NotifyMessage& message,
                                   const StatusSettings& settings) {
    auto unique = util::random_token(20);
    if (!unique) {
        return failed(target, unique.error().code(), reason(unique.error()));
    }
    std::string id =
        fmt::format("{}.{}@{}", util::format_compact_time(message.time), *unique, message.server);
    util::SpawnOptions options;
    // -t: the recipients are the To field's; -oi: a line of a lone "." does not end the message.
    options.argv = {settings.sendmail, "-t", "-oi"};
    options.env = util::current_environment();
    options.stdin_data = util::render_mail(notify_mail(message, target, id));
    return run_program(target, std::move(options));
}

util::Expected<void> deliver_command(const NotifyTarget& target, const NotifyMessage& message) {
    util::SpawnOptions options;
    options.argv = target.argv;
    options.env = notify_command_environment(message, target, util::current_environment());
    options.stdin_data =
        notify_json(message).dump(-1, ' ', false, util::Json::error_handler_t::replace) + "\n";
    return run_program(target, std::move(options));
}

} // namespace

util::Expected<std::string> read_notify_token(const std::string& path, bool in_url) {
    TRY(util::check_secret_file(path, {::getuid(), 0}));
    std::string token = TRY(util::read_file(path));
    if (token.ends_with('\n')) {
        token.pop_back();
    }
    if (token.ends_with('\r')) {
        token.pop_back();
    }
    if (token.empty()) {
        return util::fail(ExitCode::permanent, "read the token in {}: the file is empty", path);
    }
    // Never in a message: not even which character it was.
    for (char c : token) {
        bool printable = c > 0x20 && c < 0x7f;
        bool url_safe = std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                        std::string_view("-._~/%+=").find(c) != std::string_view::npos;
        if (in_url ? !url_safe : !printable) {
            return util::fail(ExitCode::permanent,
                              "read the token in {}: it must be one line of {}", path,
                              in_url ? "letters, digits and -._~/%+= (it goes into the URL)"
                                     : "printable ASCII without spaces");
        }
    }
    return token;
}

std::string url_with_path_suffix(const std::string& url, const std::string& suffix) {
    if (suffix.empty()) {
        return url;
    }
    auto scheme = url.find("://");
    auto end = url.find_first_of("?#", scheme == std::string::npos ? 0 : scheme + 3);
    std::string path = url.substr(0, end);
    while (path.ends_with('/')) {
        path.pop_back();
    }
    return path + suffix + (end == std::string::npos ? "" : url.substr(end));
}

util::Expected<void> deliver_notification(const NotifyTarget& target, const NotifyMessage& message,
                                          const StatusSettings& settings) {
    switch (target.kind) {
    case NotifyTarget::Kind::webhook:
        return deliver_webhook(target, message);
    case NotifyTarget::Kind::email:
        return deliver_email(target, message, settings);
    case NotifyTarget::Kind::command:
        return deliver_command(target, message);
    }
    return failed(target, ExitCode::permanent, "unknown kind of target");
}

} // namespace backup::core
