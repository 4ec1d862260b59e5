#include "syncd/lister.hpp"

#include <algorithm>
#include <charconv>

#include "model/repository.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<SnapshotIds> LocalSnapshotLister::list() {
    return list_snapshot_ids(m_dir);
}

bool LocalSnapshotLister::repository_made() {
    std::error_code ec;
    return std::filesystem::exists(m_dir.parent_path() / "config", ec) || ec;
}

namespace {

std::string_view trim_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.remove_suffix(1);
    }
    return line;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        f(trim_line(text.substr(start, end - start)));
        start = end + 1;
    }
}

} // namespace

SnapshotIds snapshot_ids_from_lsf(std::string_view output) {
    SnapshotIds ids;
    for_each_line(output, [&](std::string_view name) {
        if (is_repository_id(name)) {
            ids.emplace(name);
        }
    });
    return ids;
}

std::vector<RemoteSnapshotObject> snapshot_objects_from_lsf(std::string_view output) {
    std::vector<RemoteSnapshotObject> objects;
    for_each_line(output, [&](std::string_view line) {
        auto first = line.find(';');
        auto second = first == std::string_view::npos ? first : line.find(';', first + 1);
        if (second == std::string_view::npos || !is_repository_id(line.substr(second + 1))) {
            return;
        }
        RemoteSnapshotObject o;
        o.id = std::string(line.substr(second + 1));
        std::string time(line.substr(0, first));
        if (time.size() == 19 && time[10] == ' ') {
            time[10] = 'T';
            o.time = util::parse_unix_time(time + "Z");
        }
        auto size = line.substr(first + 1, second - first - 1);
        std::uint64_t bytes = 0;
        if (std::from_chars(size.data(), size.data() + size.size(), bytes).ec == std::errc()) {
            o.size = bytes;
        }
        objects.push_back(std::move(o));
    });
    std::sort(objects.begin(), objects.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    return objects;
}

std::string rclone_failure(const util::ProcessResult& result) {
    std::string chosen;
    std::string last;
    for_each_line(result.err, [&](std::string_view line) {
        // "2024/05/01 03:00:00 ERROR : ..." -> "ERROR : ..."
        if (line.size() > 20 && line[4] == '/' && line[7] == '/' && line[13] == ':') {
            line.remove_prefix(20);
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
            return;
        }
        last = line;
        if (line.starts_with("Failed to") || line.starts_with("ERROR")) {
            chosen = line;
        }
    });
    std::string reason = chosen.empty() ? last : chosen;
    return reason.empty() ? result.describe() : fmt::format("{} ({})", reason, result.describe());
}

RcloneSnapshotLister::RcloneSnapshotLister(std::string remote, RcloneRunner runner,
                                           std::filesystem::path record_dir)
    : m_remote(std::move(remote)), m_runner(std::move(runner)),
      m_record_dir(std::move(record_dir)) {
    while (m_remote.size() > 1 && m_remote.back() == '/') {
        m_remote.pop_back();
    }
}

std::string RcloneSnapshotLister::watched() const {
    bool bare = m_remote.empty() || m_remote.back() == ':';
    return fmt::format("{}{}snapshots", m_remote, bare ? "" : "/");
}

Expected<util::ProcessResult> RcloneSnapshotLister::lsf(const std::string& target) {
    util::SpawnOptions o;
    // One attempt each time: the next interval is the retry, and a stopped store fails at once
    // instead of holding the daemon in rclone's backoff. Times in UTC: lsf prints local time
    // without a zone (in every rclone version, unlike --time-format).
    o.argv = {m_runner.program,
              "lsf",
              "-q",
              "--files-only",
              "--format",
              "tsp",
              "--use-server-modtime",
              "--retries",
              "1",
              "--low-level-retries",
              "1",
              "--contimeout",
              "15s",
              "--timeout",
              "60s",
              target};
    o.env = m_runner.env;
    o.env["TZ"] = "UTC";
    o.stdout_mode = util::Output::capture;
    o.stderr_mode = util::Output::capture;
    o.timeout = std::chrono::minutes(3);
    o.stop_fd = m_runner.stop_fd;
    auto result = util::run(o);
    if (!result) {
        return std::unexpected(result.error().with_context(fmt::format("list {}", target)));
    }
    return result;
}

Expected<SnapshotIds> RcloneSnapshotLister::list() {
    std::string target = watched() + "/";
    auto listed = [&]() -> Expected<std::vector<RemoteSnapshotObject>> {
        auto result = TRY(lsf(target));
        if (result.stopped) {
            return util::fail(ExitCode::temporary, "list {}: stopped by a signal", target);
        }
        if (!result.success()) {
            return util::fail(ExitCode::temporary, "list {}: rclone lsf: {}", target,
                              rclone_failure(result));
        }
        return snapshot_objects_from_lsf(result.out);
    }();
    record(listed);
    if (!listed) {
        return std::unexpected(listed.error());
    }
    SnapshotIds ids;
    for (const auto& o : *listed) {
        ids.insert(o.id);
    }
    return ids;
}

// A record that cannot be written goes stale, which backup-status reports.
void RcloneSnapshotLister::record(const Expected<std::vector<RemoteSnapshotObject>>& listed) {
    if (m_record_dir.empty()) {
        return;
    }
    RemoteListing l;
    l.remote = m_remote;
    l.listed = util::unix_now();
    if (listed) {
        m_last_good = *listed;
    } else {
        l.error = listed.error().message();
    }
    l.snapshots = m_last_good;
    (void)write_remote_listing(m_record_dir, l);
}

bool RcloneSnapshotLister::repository_made() {
    std::string target =
        fmt::format("{}{}config", m_remote, m_remote.empty() || m_remote.back() == ':' ? "" : "/");
    auto result = lsf(target);
    if (!result || result->stopped) {
        return true;
    }
    if (result->exit_code() == 3) {
        return false; // no bucket, or no such directory
    }
    if (!result->success()) {
        return true;
    }
    bool found = false;
    for_each_line(result->out,
                  [&](std::string_view name) { found = found || name.ends_with(";config"); });
    return found;
}

} // namespace backup::core
