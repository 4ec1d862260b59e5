#include "replicate/remote_source.hpp"

#include "util/time.hpp"

#include <algorithm>

namespace backup::core {

using util::ExitCode;
using util::Expected;
using util::Json;

namespace {

// rclone's ModTime ("2026-12-02T13:37:27.123456789Z") as unix seconds; 0 when it has another
// form.
std::int64_t listed_time(const Json& item) {
    if (!item.contains("ModTime") || !item["ModTime"].is_string()) {
        return 0;
    }
    return util::parse_unix_time(item["ModTime"].get<std::string>()).value_or(0);
}

} // namespace

Expected<std::shared_ptr<RemoteSource>> RemoteSource::open(std::string remote,
                                                           const RcloneSettings& rclone) {
    std::shared_ptr<RemoteSource> source(new RemoteSource());
    source->m_remote = std::move(remote);
    source->m_fs = source->m_remote.ends_with(':') || source->m_remote.ends_with('/')
                       ? source->m_remote
                       : source->m_remote + "/";
    util::RcloneDaemonOptions options;
    options.program = rclone.program;
    options.env = rclone.env;
    options.serve = true;
    // A read that stalls ends (rclone's idle timeout) instead of holding the run for minutes;
    // a snapshot's time is its upload's (restic sets no mtime metadata), with no HEAD for it.
    options.flags = {"--contimeout",        "15s", "--timeout",           "60s",
                     "--low-level-retries", "3",   "--use-server-modtime"};
    auto daemon = util::RcloneDaemon::start(options);
    if (!daemon) {
        return std::unexpected(
            daemon.error().with_context(fmt::format("read {}", source->m_remote)));
    }
    source->m_daemon = std::move(*daemon);
    return source;
}

void RemoteSource::take_directory(SourceRepository& repo, const std::string& relative_dir,
                                  bool recurse, bool times) {
    Json options = {{"filesOnly", true}, {"noMimeType", true}, {"noModTime", !times}};
    if (recurse) {
        options["recurse"] = true;
    }
    auto reply = m_daemon->call("operations/list",
                                {{"fs", m_fs}, {"remote", relative_dir}, {"opt", options}});
    std::string what = fmt::format("list {}/{}", m_remote, relative_dir);
    if (!reply) {
        repo.unlisted.emplace_back(relative_dir, reply.error().with_context(what));
        return;
    }
    if (reply->status == 404) {
        return; // a prefix with nothing under it: an empty directory
    }
    if (!reply->ok()) {
        repo.unlisted.emplace_back(
            relative_dir, util::Error(util::rclone_error_class(*reply),
                                      fmt::format("unable to {}: {}", what, reply->error())));
        return;
    }
    if (!reply->body.contains("list") || !reply->body["list"].is_array()) {
        repo.unlisted.emplace_back(
            relative_dir,
            util::Error(ExitCode::temporary,
                        fmt::format("unable to {}: rclone's answer has no list", what)));
        return;
    }
    for (const auto& item : reply->body["list"]) {
        std::string path = item.value("Path", "");
        // Path is below fs: "snapshots/<id>", "data/3f/<id>".
        auto phase = replicate_phase(classify_repository_path(path));
        if (!phase || *phase == ReplicatePhase::config || item.value("IsDir", false)) {
            ++repo.ignored;
            continue;
        }
        std::string id(path_file_name(path));
        repo.sizes[path] = static_cast<std::uint64_t>(item.value("Size", std::int64_t{0}));
        if (*phase == ReplicatePhase::snapshots) {
            repo.times[id] = listed_time(item);
        }
        repo.ids[phase_index(*phase)].push_back(std::move(id));
    }
}

Expected<void> RemoteSource::read_config(SourceRepository& repo) {
    std::string content;
    auto got = TRY(read("config", [&](std::string_view chunk) {
        content.append(chunk);
        return content.size() <= k_max_restic_config_size;
    }));
    if (got == Read::done) {
        repo.config = std::move(content);
        repo.sizes["config"] = repo.config->size();
    }
    return {};
}

Expected<SourceRepository> RemoteSource::list() {
    SourceRepository repo;
    repo.root = m_remote;
    // Snapshots first, then index, then data, then keys: see list_source_repository.
    take_directory(repo, "snapshots", false, true);
    take_directory(repo, "index", false, false);
    take_directory(repo, "data", true, false);
    take_directory(repo, "keys", false, false);
    TRY(read_config(repo));
    for (auto& list : repo.ids) {
        std::sort(list.begin(), list.end());
    }
    return repo;
}

Expected<std::array<std::vector<std::string>, k_replicate_phase_count>>
RemoteSource::presence(const SourceRepository& listed) {
    SourceRepository again;
    take_directory(again, "index", false, false); // index before snapshots: see the header
    take_directory(again, "snapshots", false, false);
    if (!again.unlisted.empty()) {
        return std::unexpected(again.unlisted.front().second);
    }
    std::array<std::vector<std::string>, k_replicate_phase_count> present;
    present[phase_index(ReplicatePhase::data)] = listed.ids[phase_index(ReplicatePhase::data)];
    for (auto phase : {ReplicatePhase::index, ReplicatePhase::snapshots}) {
        auto& ids = again.ids[phase_index(phase)];
        std::sort(ids.begin(), ids.end());
        present[phase_index(phase)] = std::move(ids);
    }
    return present;
}

Expected<RemoteSource::Read> RemoteSource::read(const std::string& relative,
                                                const util::RcloneSink& sink) {
    std::string what = fmt::format("read {}/{}", m_remote, relative);
    long status = TRY(m_daemon->stream(m_fs, relative, sink));
    if (status == 200) {
        return Read::done;
    }
    // rclone's --rc-serve answers 500 when it cannot find the object (its HEAD failed, or said
    // there is none) and 404 when it found it but could not open it (the store's GET failed: a
    // volume server down): neither says whether the object is gone. A stat does.
    auto there = m_daemon->call(
        "operations/stat",
        {{"fs", m_fs}, {"remote", relative}, {"opt", {{"filesOnly", true}, {"noModTime", true}}}});
    if (there && there->ok() && there->body.contains("item") && there->body["item"].is_null()) {
        return Read::gone;
    }
    std::string why = there && !there->ok() && !there->error().empty()
                          ? fmt::format(" ({})", there->error())
                          : std::string();
    // Refused credentials or an unknown remote are said by the stat, and retrying cannot help.
    ExitCode code = there && !there->ok() ? util::rclone_error_class(*there) : ExitCode::temporary;
    return util::fail(code, "{}: rclone answered HTTP {}{}", what, status, why);
}

} // namespace backup::core
