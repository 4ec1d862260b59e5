#include "replicate/rclone_store.hpp"

#include "state/replicate_ledger.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
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
                                       RcloneSettings settings)
    : m_remote(std::move(remote)), m_source_root(std::move(source_root)),
      m_settings(std::move(settings)) {}

namespace {

// rclone's own message: the last line that says what failed, without its timestamp.
std::string rclone_reason(const util::ProcessResult& result) {
    std::string chosen;
    std::string last;
    std::size_t start = 0;
    const std::string& text = result.err;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string line = text.substr(start, end - start);
        start = end + 1;
        // "2024/05/01 03:00:00 ERROR : ..." -> "ERROR : ..."
        if (line.size() > 20 && line[4] == '/' && line[7] == '/' && line[13] == ':') {
            line = line.substr(20);
        }
        if (line.find_first_not_of(" \t") == std::string::npos) {
            continue;
        }
        last = line;
        if (line.starts_with("Failed to") || line.starts_with("ERROR")) {
            chosen = line;
        }
    }
    std::string reason = chosen.empty() ? last : chosen;
    return reason.empty() ? result.describe() : fmt::format("{} ({})", reason, result.describe());
}

ExitCode rclone_exit_class(const util::ProcessResult& result) {
    int code = result.exit_code();
    return code == 1 || code == 6 || code == 7 ? ExitCode::permanent : ExitCode::temporary;
}

} // namespace

Expected<util::ProcessResult> RcloneReplicaStore::run(std::vector<std::string> args,
                                                      std::string_view what) {
    util::SpawnOptions options;
    options.argv = {m_settings.program};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = m_settings.env;
    // Same process group as this process: a group kill of restic-replicate stops rclone too,
    // instead of leaving it uploading on its own.
    options.new_process_group = false;
    options.kill_group_after_exit = false;
    auto result = util::run(options);
    if (!result) {
        return std::unexpected(result.error().with_context(what));
    }
    return result;
}

Expected<void> RcloneReplicaStore::open() {
    m_scratch.emplace(TRY(util::TempDir::create_in_tmp("restic-replicate")));
    return {};
}

Expected<std::optional<std::string>> RcloneReplicaStore::read_config() {
    fs::path local = m_scratch->path() / "config";
    std::error_code ec;
    fs::remove(local, ec);
    auto result =
        TRY(run({"copyto", "-q", "--retries", "1", rclone_join(m_remote, "config"), local.string()},
                "read the config"));
    // 3: "directory not found", a bucket or path that does not exist yet: no config.
    if (result.exit_code() == 3) {
        return std::optional<std::string>{};
    }
    if (!result.success()) {
        return util::fail(rclone_exit_class(result), "read {}: rclone copyto: {}",
                          rclone_join(m_remote, "config"), rclone_reason(result));
    }
    if (!fs::exists(local, ec)) {
        return std::optional<std::string>{}; // rclone copies nothing for a missing file
    }
    // A config was read from it: the bucket exists, and the rest of the run's rclone commands
    // need not ask (S3: one request per command fewer). Without a config the copies still check
    // and create the bucket, as a first run needs. A bucket deleted meanwhile fails the copy.
    m_settings.env.insert_or_assign("RCLONE_S3_NO_CHECK_BUCKET", "true");
    return std::optional<std::string>(TRY(util::read_file(local.string())));
}

Expected<ReplicaListing> RcloneReplicaStore::list() {
    auto result = TRY(run({"lsf", "-q", "--retries", "1", "-R", "--files-only", "--format", "ps",
                           "--separator", ";", m_remote},
                          "list the destination"));
    ReplicaListing listing;
    if (result.exit_code() == 3) {
        return listing; // nothing there yet
    }
    if (!result.success()) {
        return util::fail(rclone_exit_class(result), "list {}: rclone lsf: {}", m_remote,
                          rclone_reason(result));
    }
    std::size_t start = 0;
    const std::string& out = result.out;
    while (start < out.size()) {
        auto end = out.find('\n', start);
        if (end == std::string::npos) {
            end = out.size();
        }
        std::string_view line(out.data() + start, end - start);
        start = end + 1;
        auto separator = line.rfind(';');
        if (separator == std::string_view::npos) {
            continue;
        }
        std::string relative(line.substr(0, separator));
        if (!replicate_phase(classify_repository_path(relative))) {
            continue;
        }
        std::uint64_t size =
            std::strtoull(std::string(line.substr(separator + 1)).c_str(), nullptr, 10);
        listing.files.push_back({std::move(relative), size});
    }
    return listing;
}

namespace {

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

// The files rclone -v reported sending: "... INFO  : data/ab/ab12...: Copied (new)".
std::set<std::string> copied_by_rclone(const std::string& log) {
    constexpr std::string_view k_marker = "INFO  : ";
    constexpr std::string_view k_copied = ": Copied (new)";
    std::set<std::string> files;
    std::size_t start = 0;
    while (start < log.size()) {
        auto end = log.find('\n', start);
        if (end == std::string::npos) {
            end = log.size();
        }
        std::string_view line(log.data() + start, end - start);
        start = end + 1;
        auto at = line.find(k_marker);
        if (at == std::string_view::npos || !line.ends_with(k_copied)) {
            continue;
        }
        line = line.substr(at + k_marker.size());
        files.emplace(line.substr(0, line.size() - k_copied.size()));
    }
    return files;
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

} // namespace

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
    // is not there is skipped without error. --retries 1 as for every other command: the next
    // run retries, and rclone's own 3 rounds of a failing batch hold the run lock for minutes
    // (versitygw answering 500: about 4 minutes a round with the default low-level retries).
    auto result = run({"delete", "-q", "--retries", "1", "--files-from-raw", *list, m_remote},
                      fmt::format("delete {} from {}", to_string(phase), m_remote));
    if (!result) {
        outcome.error = result.error();
        return outcome;
    }
    if (!result->success()) {
        // Which files went is unknown: none leaves the ledger, the next run deletes them again.
        outcome.error =
            util::Error(rclone_exit_class(*result),
                        fmt::format("unable to delete {} from {}: rclone delete: {}",
                                    to_string(phase), m_remote, rclone_reason(*result)));
        return outcome;
    }
    outcome.removed = files;
    return outcome;
}

CopyOutcome RcloneReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                     SourceVerifier& verifier, const CopyHook& before_each) {
    CopyOutcome outcome;
    std::uint64_t bytes = 0;
    std::vector<std::string> batch = verified_files(files, verifier, before_each, outcome, bytes);
    if (batch.empty()) {
        return outcome;
    }
    auto list = write_file_list(m_scratch->path(), to_string(phase), batch);
    if (!list) {
        outcome.error = list.error();
        return outcome;
    }
    // -v: rclone names each file it sends ("Copied (new)"); the others were there already.
    auto result =
        run({"copy", "-v", "--stats-log-level", "DEBUG", "--files-from-raw", *list, "--immutable",
             "--checksum", "--no-traverse", "--no-update-modtime", m_source_root, m_remote},
            fmt::format("copy {} to {}", to_string(phase), m_remote));
    if (!result) {
        outcome.error = result.error();
        return outcome;
    }
    if (!result->success()) {
        // Which files made it is unknown: none is recorded, the next run sends them again
        // (rclone skips those already there with the same checksum).
        outcome.error =
            util::Error(rclone_exit_class(*result),
                        fmt::format("unable to copy {} to {}: rclone copy: {}", to_string(phase),
                                    m_remote, rclone_reason(*result)));
        return outcome;
    }
    // rclone skips a listed file that is gone (a prune while it ran): only files still at the
    // source can be known to have arrived.
    std::set<std::string> sent = copied_by_rclone(result->err);
    for (const auto& relative : batch) {
        std::string path = (fs::path(m_source_root) / relative).string();
        if (::access(path.c_str(), F_OK) == 0) {
            outcome.present.push_back(relative);
            ++outcome.sent;
            if (!sent.contains(relative)) {
                outcome.found.insert(relative);
            }
        } else {
            outcome.vanished.push_back(relative);
            bytes -= std::min(bytes, verifier.find(relative) ? verifier.find(relative)->size : 0);
        }
    }
    outcome.bytes = bytes;
    return outcome;
}

} // namespace backup::core
