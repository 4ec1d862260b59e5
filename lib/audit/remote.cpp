#include "audit/remote.hpp"

#include <algorithm>
#include <sys/stat.h>

#include "model/repository.hpp"
#include "util/sha256.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Json;

namespace {

// A listing of tens of thousands of objects takes seconds; one that takes minutes is a store
// that stopped answering.
constexpr std::chrono::minutes k_list_timeout{5};
constexpr std::chrono::seconds k_stream_floor{60};
constexpr std::uint64_t k_slow_link_bytes_per_second = 256 * 1024;

std::string object_name(const std::string& remote, const std::string& relative) {
    if (remote.ends_with(':') || remote.ends_with('/')) {
        return remote + relative;
    }
    return fmt::format("{}/{}", remote, relative);
}

} // namespace

std::chrono::milliseconds remote_stream_timeout(std::uint64_t size) {
    return k_stream_floor + std::chrono::seconds(size / k_slow_link_bytes_per_second);
}

util::Expected<std::unique_ptr<RemoteAuditStore>>
RemoteAuditStore::open(const RemoteAuditSource& source, const std::string& program) {
    struct stat st {};
    if (::stat(source.rclone_config.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return util::fail(ExitCode::permanent,
                          "audit {}: there is no rclone config {} (the credentials of the remote)",
                          source.remote, source.rclone_config);
    }
    std::unique_ptr<RemoteAuditStore> store(new RemoteAuditStore(source));
    util::RcloneDaemonOptions options;
    options.program = program;
    options.env = util::current_environment();
    options.env["RCLONE_CONFIG"] = source.rclone_config;
    // Times from the listing itself (no HEAD per object), and no HEAD before each GET: on a
    // paid store every request and every byte counts.
    // A failing request is tried 3 times, not rclone's 10 with back-off: a failed object is
    // read again by the next run anyway, and a store that is down must not hold the run for
    // minutes.
    options.flags = {"--use-server-modtime", "--s3-no-head-object", "--low-level-retries", "3"};
    options.serve = true;
    auto daemon = util::RcloneDaemon::start(options);
    if (!daemon) {
        return std::unexpected(daemon.error().with_context(fmt::format("audit {}", source.remote)));
    }
    store->m_daemon = std::move(*daemon);
    const std::string& remote = source.remote;
    store->m_fs = remote.ends_with(':') || remote.ends_with('/') ? remote : remote + "/";
    return store;
}

util::Expected<std::optional<std::vector<AuditEntry>>> RemoteAuditStore::list() {
    Json options = {{"recurse", true}, {"filesOnly", true}, {"noMimeType", true}};
    auto reply = TRY(m_daemon->call(
        "operations/list", {{"fs", m_fs}, {"remote", ""}, {"opt", options}}, k_list_timeout));
    if (reply.status == 404) {
        return std::optional<std::vector<AuditEntry>>{};
    }
    if (!reply.ok()) {
        return util::fail(util::rclone_error_class(reply), "list {}: {}", m_source.remote,
                          reply.error().empty() ? fmt::format("HTTP {}", reply.status)
                                                : reply.error());
    }
    std::vector<AuditEntry> entries;
    if (!reply.body.contains("list") || !reply.body["list"].is_array()) {
        return util::fail(ExitCode::temporary, "list {}: rclone's answer has no list",
                          m_source.remote);
    }
    for (const auto& item : reply.body["list"]) {
        AuditEntry entry;
        entry.relative = item.value("Path", "");
        if (entry.relative.empty()) {
            continue;
        }
        entry.kind = classify_repository_path(entry.relative);
        entry.size = static_cast<std::uint64_t>(
            std::max<std::int64_t>(item.value("Size", std::int64_t{0}), 0));
        entry.mtime = util::parse_unix_time(item.value("ModTime", "")).value_or(0);
        entries.push_back(std::move(entry));
    }
    std::sort(entries.begin(), entries.end(),
              [](const AuditEntry& a, const AuditEntry& b) { return a.relative < b.relative; });
    return std::optional<std::vector<AuditEntry>>(std::move(entries));
}

util::Expected<bool> RemoteAuditStore::exists(const std::string& relative) {
    // A listing of the object's directory, not a stat: with --s3-no-head-object a stat does not
    // ask the store, and a listing comes from the store's metadata (a SeaweedFS filer), which
    // answers while the server holding the bytes is down.
    auto slash = relative.rfind('/');
    std::string parent = slash == std::string::npos ? "" : relative.substr(0, slash);
    std::string name = slash == std::string::npos ? relative : relative.substr(slash + 1);
    Json options = {{"filesOnly", true}, {"noModTime", true}, {"noMimeType", true}};
    auto reply =
        TRY(m_daemon->call("operations/list", {{"fs", m_fs}, {"remote", parent}, {"opt", options}},
                           std::chrono::milliseconds{k_stream_floor}));
    if (reply.status == 404) {
        return false;
    }
    if (!reply.ok()) {
        return util::fail(util::rclone_error_class(reply), "list {}: {}",
                          object_name(m_source.remote, parent), reply.error());
    }
    for (const auto& item : reply.body.value("list", Json::array())) {
        if (item.value("Name", "") == name) {
            return true;
        }
    }
    return false;
}

HashResult RemoteAuditStore::hash(const AuditEntry& entry) {
    HashResult result;
    util::Sha256 sha;
    std::uint64_t bytes = 0;
    auto status = m_daemon->stream(
        m_fs, entry.relative,
        [&](std::string_view chunk) {
            sha.update(chunk);
            bytes += chunk.size();
            return true;
        },
        remote_stream_timeout(entry.size));
    if (status && *status == 200) {
        result.bytes = bytes;
        result.actual = util::to_hex(sha.finish());
        result.outcome = result.actual == path_file_name(entry.relative) ? HashOutcome::match
                                                                         : HashOutcome::mismatch;
        return result;
    }
    // rclone's status alone does not tell an object that is gone from a store that fails to
    // serve it (404 and 500 occur for both); the object's directory listing does. A failed
    // read is never a finding.
    std::string name = object_name(m_source.remote, entry.relative);
    auto there = exists(entry.relative);
    if (there && !*there) {
        result.outcome = HashOutcome::vanished;
        return result;
    }
    result.outcome = HashOutcome::unavailable;
    result.error =
        status
            ? util::Error(ExitCode::temporary,
                          fmt::format("unable to read {}: rclone answered HTTP {}{}", name, *status,
                                      there ? "" : fmt::format(" ({})", there.error().message())))
            : status.error();
    return result;
}

} // namespace backup::core
