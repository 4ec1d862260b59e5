#include "replicate/rclone_store.hpp"

#include "replicate/remote_source.hpp"

#include "state/replicate_ledger.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/scope_guard.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace backup::core {

using util::ExitCode;
using util::Expected;

std::string rclone_join(std::string_view remote, std::string_view relative) {
    if (remote.empty() || remote.back() == ':' || remote.back() == '/') {
        return fmt::format("{}{}", remote, relative);
    }
    return fmt::format("{}/{}", remote, relative);
}

RcloneReplicaStore::RcloneReplicaStore(std::string remote, std::string source_root,
                                       RcloneSettings settings,
                                       std::unique_ptr<util::RcloneDaemon> daemon)
    : m_remote(std::move(remote)), m_source_root(std::move(source_root)),
      m_settings(std::move(settings)), m_daemon(std::move(daemon)) {}

util::RcloneDaemonOptions rclone_store_daemon_options(const RcloneSettings& settings) {
    util::RcloneDaemonOptions options;
    options.program = settings.program;
    options.env = settings.env;
    options.flags = {"--s3-no-head"};
    options.serve = true;
    return options;
}

namespace {

using util::Json;

constexpr std::size_t k_copy_workers = 8;

// Per file: no modification times or MIME types (which cost nothing on S3, but a request on
// some backends), files only (a HEAD, no listing).
Json file_options() {
    return {{"filesOnly", true}, {"noModTime", true}, {"noMimeType", true}};
}

// The files of a batch that verify, in order; the others go into outcome (vanished, refused).
std::vector<std::string> verified_files(const std::vector<std::string>& files,
                                        SourceVerifier& verifier, const CopyHook& before_each,
                                        CopyOutcome& outcome, std::uint64_t& bytes) {
    std::vector<std::string> batch;
    for (const auto& relative : files) {
        if (before_each) {
            before_each(relative);
        }
        const auto& state = verifier.verify(relative);
        switch (state.check) {
        case SourceCheck::good:
            batch.push_back(relative);
            bytes += state.size;
            break;
        case SourceCheck::vanished:
            outcome.vanished.push_back(relative);
            break;
        case SourceCheck::corrupt:
        case SourceCheck::unreadable:
            outcome.refused.push_back(relative);
            break;
        }
    }
    return batch;
}

// The batch as rclone's --files-from-raw file, one path a line, in scratch.
util::Expected<std::string> write_file_list(const fs::path& scratch, std::string_view name,
                                            const std::vector<std::string>& files) {
    std::string text;
    for (const auto& relative : files) {
        text += relative;
        text += '\n';
    }
    fs::path list = scratch / fmt::format("{}.files", name);
    TRY(util::atomic_write(list.string(), text, 0600));
    return list.string();
}

// The rclone fs for the source directory: a local path.
std::string source_fs(const std::string& root) {
    return root.ends_with('/') ? root : root + "/";
}

} // namespace

std::optional<std::string> rclone_with_option(std::string_view remote, std::string_view option) {
    // ":s3,opt=x:bucket" (an on-the-fly remote) or "name,opt=x:path": options end at the ':'
    // after the name.
    auto colon = remote.find(':', remote.starts_with(':') ? 1 : 0);
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view name = remote.substr(0, colon);
    if (name.find_first_of("'\"") != std::string_view::npos) {
        return std::nullopt;
    }
    return fmt::format("{},{}{}", name, option, remote.substr(colon));
}

Expected<void> RcloneReplicaStore::open() {
    m_scratch.emplace(TRY(util::TempDir::create_in_tmp("restic-replicate")));
    if (m_daemon) {
        // Spawned while the source was listed: it has had that long to start.
        if (auto ready = m_daemon->wait_ready(); !ready) {
            m_daemon.reset();
            return std::unexpected(ready.error().with_context(fmt::format("use {}", m_remote)));
        }
    } else {
        auto daemon = util::RcloneDaemon::start(rclone_store_daemon_options(m_settings));
        if (!daemon) {
            return std::unexpected(daemon.error().with_context(fmt::format("use {}", m_remote)));
        }
        m_daemon = std::move(*daemon);
    }
    m_fs = m_remote.ends_with(':') || m_remote.ends_with('/') ? m_remote : m_remote + "/";
    m_fs_known = rclone_with_option(m_fs, "no_check_bucket=true").value_or(m_fs);
    return {};
}

Expected<std::optional<std::string>> RcloneReplicaStore::read_config(std::string_view expected) {
    std::string what = fmt::format("read {}", rclone_join(m_remote, "config"));
    Json options = file_options();
    options["showHash"] = true;
    options["hashTypes"] = Json::array({"md5"});
    auto reply = TRY(
        m_daemon->call("operations/stat", {{"fs", m_fs}, {"remote", "config"}, {"opt", options}}));
    if (reply.status == 404) {
        return std::optional<std::string>{}; // a bucket or path that does not exist yet
    }
    if (!reply.ok()) {
        return util::fail(util::rclone_error_class(reply), "{}: {}", what, reply.error());
    }
    if (!reply.body.contains("item")) {
        return util::fail(ExitCode::temporary, "{}: rclone's answer has no item", what);
    }
    const Json& item = reply.body["item"];
    if (item.is_null()) {
        return std::optional<std::string>{};
    }
    m_bucket_known = true;
    std::string md5 = item.contains("Hashes") ? item["Hashes"].value("md5", "") : "";
    if (item.value("Size", std::int64_t{-1}) == static_cast<std::int64_t>(expected.size()) &&
        !md5.empty() && md5 == util::md5_hex(expected)) {
        return std::optional<std::string>(std::string(expected)); // the same bytes
    }
    std::string content;
    auto status = TRY(m_daemon->stream(
        m_fs, "config",
        [&](std::string_view chunk) {
            content.append(chunk);
            return content.size() <= k_max_restic_config_size;
        },
        std::chrono::milliseconds{0}));
    if (status != 200) {
        return util::fail(ExitCode::temporary, "{}: rclone answered HTTP {}", what, status);
    }
    return std::optional<std::string>(std::move(content));
}

Expected<ReplicaListing> RcloneReplicaStore::list() {
    Json options = file_options();
    options["recurse"] = true;
    auto reply =
        TRY(m_daemon->call("operations/list", {{"fs", m_fs}, {"remote", ""}, {"opt", options}}));
    ReplicaListing listing;
    if (reply.status == 404) {
        return listing; // nothing there yet
    }
    if (!reply.ok()) {
        return util::fail(util::rclone_error_class(reply), "list {}: {}", m_remote, reply.error());
    }
    for (const auto& item : reply.body["list"]) {
        std::string relative = item.value("Path", "");
        if (!replicate_phase(classify_repository_path(relative))) {
            continue;
        }
        std::int64_t size = item.value("Size", std::int64_t{0});
        listing.files.push_back({std::move(relative), static_cast<std::uint64_t>(size)});
    }
    if (!listing.files.empty()) {
        m_bucket_known = true;
    }
    return listing;
}

RemoveOutcome RcloneReplicaStore::remove(ReplicatePhase phase,
                                         const std::vector<std::string>& files) {
    RemoveOutcome outcome;
    for (const auto& relative : files) {
        if (!is_deletable_phase(phase) ||
            replicate_phase(classify_repository_path(relative)) != phase) {
            outcome.error = util::Error(
                ExitCode::permanent,
                fmt::format("unable to delete {}: not a file of {}", relative, to_string(phase)));
            return outcome;
        }
    }
    if (files.empty()) {
        return outcome;
    }
    auto list =
        write_file_list(m_scratch->path(), fmt::format("delete-{}", to_string(phase)), files);
    if (!list) {
        outcome.error = list.error();
        return outcome;
    }
    // --files-from-raw: rclone looks up each listed file (no listing of the remote); one that
    // is not there is skipped without error.
    auto deleted = m_daemon->call_ok(
        "operations/delete", {{"fs", fs()}, {"_filter", {{"FilesFromRaw", {*list}}}}},
        fmt::format("delete {} from {}: rclone delete", to_string(phase), m_remote));
    if (!deleted) {
        // Which files went is unknown: none leaves the ledger, the next run deletes them again.
        outcome.error = deleted.error();
        return outcome;
    }
    outcome.removed = files;
    return outcome;
}

Expected<RcloneReplicaStore::Sent> RcloneReplicaStore::copy_one(const std::string& relative) {
    std::string what = fmt::format("copy {} to {}", relative, m_remote);
    auto there = m_daemon->call_ok(
        "operations/stat", {{"fs", fs()}, {"remote", relative}, {"opt", file_options()}}, what);
    if (!there) {
        return std::unexpected(there.error());
    }
    if (!there->contains("item")) {
        return util::fail(ExitCode::temporary, "{}: rclone's answer has no item", what);
    }
    if (!(*there)["item"].is_null()) {
        return Sent::exists;
    }
    // Known absent a moment ago: rclone need not look again (--no-check-dest).
    auto reply = TRY(m_daemon->call("operations/copyfile", {{"srcFs", source_fs(m_source_root)},
                                                            {"srcRemote", relative},
                                                            {"dstFs", fs()},
                                                            {"dstRemote", relative},
                                                            {"_config", {{"NoCheckDest", true}}}}));
    if (reply.status == 404) {
        return Sent::vanished; // gone from the source (a prune while this runs)
    }
    if (!reply.ok()) {
        return util::fail(util::rclone_error_class(reply), "{}: {}", what, reply.error());
    }
    return Sent::sent;
}

Expected<void> RcloneReplicaStore::copy_existing(ReplicatePhase phase,
                                                 const std::vector<std::string>& files) {
    auto list = TRY(write_file_list(m_scratch->path(), to_string(phase), files));
    TRY(m_daemon->call_ok(
        "sync/copy",
        {{"srcFs", source_fs(m_source_root)},
         {"dstFs", fs()},
         {"_filter", {{"FilesFromRaw", {list}}}},
         {"_config",
          {{"Immutable", true},
           {"CheckSum", true},
           {"NoTraverse", true},
           {"NoUpdateModTime", true}}}},
        fmt::format("copy {} to {}: files there already", to_string(phase), m_remote)));
    return {};
}

Expected<bool> RcloneReplicaStore::same_there(const std::string& relative,
                                              const std::string& expected) {
    util::Sha256 hash;
    auto status = TRY(m_daemon->stream(fs(), relative, [&](std::string_view chunk) {
        hash.update(chunk);
        return true;
    }));
    if (status != 200) {
        return util::fail(ExitCode::temporary, "read {}: rclone answered HTTP {}",
                          rclone_join(m_remote, relative), status);
    }
    return util::to_hex(hash.finish()) == expected;
}

Expected<RcloneReplicaStore::Sent> RcloneReplicaStore::copy_remote_one(const std::string& relative,
                                                                       RemoteSource& remote,
                                                                       SourceFileState& state) {
    std::string what = fmt::format("copy {} to {}", relative, m_remote);
    auto there = TRY(m_daemon->call_ok(
        "operations/stat", {{"fs", fs()}, {"remote", relative}, {"opt", file_options()}}, what));
    bool exists = there.contains("item") && !there["item"].is_null();
    // The file, downloaded: verified before any byte of it reaches the destination.
    std::string name = fmt::format("get-{}", path_file_name(relative));
    fs::path scratch = m_scratch->path() / name;
    util::Fd out =
        TRY(util::open_fd(scratch.string(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    util::ScopeGuard remove_scratch([&] { ::unlink(scratch.c_str()); });
    util::Sha256 hash;
    std::uint64_t size = 0;
    std::optional<util::Error> write_error;
    auto read = TRY(remote.read(relative, [&](std::string_view chunk) {
        hash.update(chunk);
        size += chunk.size();
        if (auto written = util::write_all(out.get(), chunk, scratch.string()); !written) {
            write_error = written.error();
            return false;
        }
        return true;
    }));
    if (write_error) {
        return std::unexpected(*write_error);
    }
    if (read == RemoteSource::Read::gone) {
        state = {SourceCheck::vanished, 0, {}, {}};
        return Sent::vanished;
    }
    state = judge_content(relative, util::to_hex(hash.finish()), size);
    if (state.check != SourceCheck::good) {
        return Sent::refused;
    }
    if (exists) {
        if (!TRY(same_there(relative, state.actual))) {
            return util::fail(ExitCode::permanent,
                              "{}: it exists there with other content; it is "
                              "never overwritten",
                              what);
        }
        return Sent::exists;
    }
    out.reset();
    TRY(m_daemon->call_ok("operations/copyfile",
                          {{"srcFs", source_fs(m_scratch->str())},
                           {"srcRemote", name},
                           {"dstFs", fs()},
                           {"dstRemote", relative},
                           {"_config", {{"NoCheckDest", true}}}},
                          what));
    return Sent::sent;
}

CopyOutcome RcloneReplicaStore::copy_from_remote(ReplicatePhase phase,
                                                 const std::vector<std::string>& files,
                                                 SourceVerifier& verifier,
                                                 const CopyHook& before_each) {
    CopyOutcome outcome;
    std::vector<std::string> batch;
    for (const auto& relative : files) {
        if (before_each) {
            before_each(relative);
        }
        const auto* known = verifier.find(relative);
        if (known == nullptr || known->check == SourceCheck::good) {
            batch.push_back(relative);
        } else {
            (known->check == SourceCheck::vanished ? outcome.vanished : outcome.refused)
                .push_back(relative);
        }
    }
    std::vector<std::optional<Expected<Sent>>> results(batch.size());
    std::vector<SourceFileState> states(batch.size());
    util::parallel_for_waiting(batch.size(), k_copy_workers, [&](std::size_t i) {
        results[i] = copy_remote_one(batch[i], *verifier.remote(), states[i]);
    });
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& result = *results[i];
        if (!result) {
            if (!outcome.error) {
                outcome.error = result.error();
            }
            continue;
        }
        std::uint64_t size = states[i].size;
        verifier.record(batch[i], std::move(states[i]));
        switch (*result) {
        case Sent::sent:
            outcome.present.push_back(batch[i]);
            ++outcome.sent;
            outcome.bytes += size;
            break;
        case Sent::exists:
            // Found there, the same: not copied by this run, so never retention's to delete.
            outcome.found.insert(batch[i]);
            outcome.present.push_back(batch[i]);
            ++outcome.already_there;
            break;
        case Sent::vanished:
            outcome.vanished.push_back(batch[i]);
            break;
        case Sent::refused:
            outcome.refused.push_back(batch[i]);
            break;
        }
    }
    if (phase == ReplicatePhase::config && !outcome.present.empty()) {
        m_bucket_known = true;
    }
    return outcome;
}

CopyOutcome RcloneReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                     SourceVerifier& verifier, const CopyHook& before_each) {
    if (verifier.remote() != nullptr) {
        return copy_from_remote(phase, files, verifier, before_each);
    }
    CopyOutcome outcome;
    std::uint64_t verified_bytes = 0;
    std::vector<std::string> batch =
        verified_files(files, verifier, before_each, outcome, verified_bytes);
    // 8 at a time, as rclone's checkers: the time goes to waiting for the server.
    std::vector<std::optional<Expected<Sent>>> results(batch.size());
    util::parallel_for_waiting(batch.size(), k_copy_workers,
                               [&](std::size_t i) { results[i] = copy_one(batch[i]); });
    std::vector<std::string> existing;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& result = *results[i];
        if (!result) {
            if (!outcome.error) {
                outcome.error = result.error();
            }
            continue;
        }
        switch (*result) {
        case Sent::sent:
            outcome.present.push_back(batch[i]);
            ++outcome.sent;
            outcome.bytes += verifier.find(batch[i]) ? verifier.find(batch[i])->size : 0;
            break;
        case Sent::exists:
            existing.push_back(batch[i]);
            break;
        case Sent::vanished:
        case Sent::refused: // only from a remote primary
            outcome.vanished.push_back(batch[i]);
            break;
        }
    }
    if (!existing.empty() && !outcome.error) {
        if (auto same = copy_existing(phase, existing); !same) {
            outcome.error = same.error();
        } else {
            // Found there, the same: not copied by this run, so never retention's to delete.
            for (auto& relative : existing) {
                outcome.found.insert(relative);
                outcome.present.push_back(std::move(relative));
                ++outcome.already_there;
            }
        }
    }
    if (phase == ReplicatePhase::config && !outcome.present.empty()) {
        m_bucket_known = true;
    }
    return outcome;
}

} // namespace backup::core
