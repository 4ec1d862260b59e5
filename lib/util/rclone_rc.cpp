#include "util/rclone_rc.hpp"

#include "util/curl.hpp"
#include "util/fd.hpp"

#include <array>
#include <fcntl.h>
#include <limits>
#include <sys/un.h>

namespace backup::util {

using std::chrono::milliseconds;

namespace {

constexpr std::size_t k_log_tail = 4096;

// Whether an rclone message says that trying again cannot help. rclone's rc gives a status
// (400 bad parameters, 404 not found, 500 the rest) and a message; the messages below are
// rclone's and the S3 services' own words for refused credentials and missing config.
bool permanent_message(std::string_view message) {
    constexpr std::array<std::string_view, 9> k_permanent = {
        "didn't find section in config file",
        "couldn't find backend",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "StatusCode: 403",
        "immutable file modified",
        "InvalidBucketName",
        "NoSuchBucket",
    };
    for (auto text : k_permanent) {
        if (message.find(text) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

// "unable to POST to rclone: ..." -> "POST to rclone: ...", for a message that says "unable to"
// once.
std::string without_unable(const std::string& message) {
    constexpr std::string_view k_prefix = "unable to ";
    return message.starts_with(k_prefix) ? message.substr(k_prefix.size()) : message;
}

} // namespace

std::string RcloneReply::error() const {
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
        return body["error"].get<std::string>();
    }
    return {};
}

ExitCode rclone_error_class(const RcloneReply& reply) {
    if (reply.status == 400 || permanent_message(reply.error())) {
        return ExitCode::permanent;
    }
    return ExitCode::temporary;
}

Expected<std::unique_ptr<RcloneDaemon>> RcloneDaemon::start(const RcloneDaemonOptions& options) {
    auto daemon = TRY(spawn(options));
    TRY(daemon->wait_ready());
    return daemon;
}

Expected<std::unique_ptr<RcloneDaemon>> RcloneDaemon::spawn(const RcloneDaemonOptions& options) {
    std::unique_ptr<RcloneDaemon> daemon(new RcloneDaemon());
    auto dir = options.parent_dir.empty() ? TempDir::create_in_tmp("rclone-rcd")
                                          : TempDir::create(options.parent_dir + "/rclone-rcd-");
    // A socket path must fit sun_path (108 bytes): a long TMPDIR falls back to /tmp.
    if (dir && (dir->path() / "sock").string().size() >= sizeof(sockaddr_un{}.sun_path)) {
        dir = TempDir::create("/tmp/rclone-rcd-");
    }
    if (!dir) {
        return std::unexpected(dir.error().with_context("start rclone rcd"));
    }
    daemon->m_dir.emplace(std::move(*dir));
    daemon->m_socket = (daemon->m_dir->path() / "sock").string();
    std::string log_path = (daemon->m_dir->path() / "log").string();
    Fd log = TRY(open_fd(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));

    SpawnOptions spawn;
    auto path = options.env.find("PATH");
    auto setpriv =
        find_executable("setpriv", path != options.env.end() ? path->second : "/usr/bin:/bin");
    if (setpriv) {
        // The parent-death signal survives the exec into rclone: a SIGKILL of this process
        // cannot leave the daemon running on its own.
        spawn.argv = {*setpriv, "--pdeathsig", "KILL"};
    }
    spawn.argv.push_back(options.program);
    spawn.argv.insert(spawn.argv.end(),
                      {"rcd", "--rc-addr", "unix://" + daemon->m_socket, "--rc-no-auth"});
    if (options.serve) {
        spawn.argv.push_back("--rc-serve");
    }
    spawn.argv.insert(spawn.argv.end(), options.flags.begin(), options.flags.end());
    spawn.env = options.env;
    spawn.stdout_mode = Output::null;
    spawn.stderr_fd = log.get(); // a file, not a pipe: nothing can block rclone's logging
    // Same process group as this process, as rclone's other runs: a group kill stops it too.
    spawn.new_process_group = false;
    spawn.kill_group_after_exit = false;
    daemon->m_child.emplace(TRY(Child::spawn(spawn)));
    daemon->m_deadline = SteadyClock::now() + options.start_timeout;
    return daemon;
}

Expected<void> RcloneDaemon::wait_ready() {
    while (!m_ready) {
        if (!m_child) {
            return fail(ExitCode::temporary, "start rclone rcd: it was stopped");
        }
        auto answer = call("rc/noop", Json::object(), milliseconds{1000});
        if (answer && answer->ok()) {
            m_ready = true;
            break;
        }
        // The wait ends early when rclone exits: it refused its flags or its socket.
        auto exited = m_child->wait_for(milliseconds{10});
        if (!exited || *exited || SteadyClock::now() > m_deadline) {
            std::string why = exited && *exited ? "it exited" : "it did not answer in time";
            std::string tail = log_tail();
            stop();
            return fail(ExitCode::temporary, "start rclone rcd: {}{}{}", why,
                        tail.empty() ? "" : ": ", tail);
        }
    }
    return {};
}

RcloneDaemon::~RcloneDaemon() {
    stop();
}

void RcloneDaemon::stop() {
    if (m_child && m_child->running()) {
        (void)m_child->terminate();
    }
    m_child.reset();
}

std::string RcloneDaemon::log_tail() const {
    if (!m_dir) {
        return {};
    }
    auto text = read_file((m_dir->path() / "log").string());
    if (!text) {
        return {};
    }
    std::string tail = text->size() > k_log_tail ? text->substr(text->size() - k_log_tail) : *text;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) {
        tail.pop_back();
    }
    // The last line says what went wrong; the ones before are context.
    auto last = tail.rfind('\n');
    return last == std::string::npos ? tail : tail.substr(last + 1);
}

Expected<RcloneReply> RcloneDaemon::call(std::string_view method, const Json& params,
                                         milliseconds timeout) {
    CurlPost request;
    request.url = fmt::format("http://rclone/{}", method);
    request.unix_socket = m_socket;
    request.headers = {"Content-Type: application/json"};
    request.body = params.dump();
    request.timeout = timeout;
    request.reply_limit = std::numeric_limits<std::size_t>::max();
    auto reply = curl_post(request);
    if (!reply) {
        return fail(ExitCode::temporary, "call rclone rcd {}: {}", method,
                    without_unable(reply.error().message()));
    }
    RcloneReply out;
    out.status = reply->status;
    out.body = Json::parse(reply->body, nullptr, false);
    if (out.body.is_discarded() || !out.body.is_object()) {
        return fail(ExitCode::temporary, "read rclone rcd's answer to {}: HTTP {} without JSON",
                    method, reply->status);
    }
    return out;
}

Expected<Json> RcloneDaemon::call_ok(std::string_view method, const Json& params,
                                     std::string_view what, milliseconds timeout) {
    auto reply = call(method, params, timeout);
    if (!reply) {
        return std::unexpected(reply.error().with_context(what));
    }
    if (!reply->ok()) {
        std::string message = reply->error();
        return fail(rclone_error_class(*reply), "{}: {}", what,
                    message.empty() ? fmt::format("HTTP {}", reply->status) : message);
    }
    return std::move(reply->body);
}

Expected<long> RcloneDaemon::stream(std::string_view fs, std::string_view path,
                                    const RcloneSink& sink, milliseconds timeout) {
    CurlPost request;
    // rclone's pattern is "/[fs]/path"; remote names and repository paths need no escaping.
    request.url = fmt::format("http://rclone/[{}]/{}", fs, path);
    request.unix_socket = m_socket;
    request.get = true;
    request.timeout = timeout;
    request.sink = sink;
    auto reply = curl_post(request);
    if (!reply) {
        return fail(ExitCode::temporary, "read {}{} through rclone rcd: {}", fs, path,
                    without_unable(reply.error().message()));
    }
    return reply->status;
}

} // namespace backup::util
