#include "replicate/rclone_store.hpp"

#include "util/fs.hpp"

#include <algorithm>
#include <cstdlib>
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

} // namespace

CopyOutcome RcloneReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                     SourceVerifier& verifier, const CopyHook& before_each) {
    CopyOutcome outcome;
    std::uint64_t bytes = 0;
    std::vector<std::string> batch = verified_files(files, verifier, before_each, outcome, bytes);
    if (batch.empty()) {
        return outcome;
    }
    std::string text;
    for (const auto& relative : batch) {
        text += relative;
        text += '\n';
    }
    fs::path list = m_scratch->path() / fmt::format("{}.files", to_string(phase));
    if (auto written = util::atomic_write(list.string(), text, 0600); !written) {
        outcome.error = written.error();
        return outcome;
    }
    auto result = run({"copy", "-q", "--files-from-raw", list.string(), "--immutable", "--checksum",
                       "--no-traverse", "--no-update-modtime", m_source_root, m_remote},
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
    for (const auto& relative : batch) {
        std::string path = (fs::path(m_source_root) / relative).string();
        if (::access(path.c_str(), F_OK) == 0) {
            outcome.present.push_back(relative);
            ++outcome.sent;
        } else {
            outcome.vanished.push_back(relative);
            bytes -= std::min(bytes, verifier.find(relative) ? verifier.find(relative)->size : 0);
        }
    }
    outcome.bytes = bytes;
    return outcome;
}

} // namespace backup::core
