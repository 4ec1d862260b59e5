#include "core/replicate_store.hpp"

#include "util/scope_guard.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace backup::core {

using util::ExitCode;
using util::Expected;

bool is_replica_temporary_name(std::string_view name) {
    return name.find(k_replica_temporary_marker) != std::string_view::npos;
}

namespace {

std::string parent_of(std::string_view relative) {
    auto slash = relative.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(relative.substr(0, slash));
}

std::string name_of(std::string_view relative) {
    auto slash = relative.rfind('/');
    return std::string(slash == std::string_view::npos ? relative : relative.substr(slash + 1));
}

// Renames from to to unless to exists. Returns 0, or -1 with errno (EEXIST: to exists).
int rename_noreplace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
        return -1;
    }
    // A file system without RENAME_NOREPLACE: link() never replaces an existing name either.
    if (::link(from.c_str(), to.c_str()) != 0) {
        return -1;
    }
    ::unlink(from.c_str());
    return 0;
}

} // namespace

// --- local -----------------------------------------------------------------------------------

LocalReplicaStore::LocalReplicaStore(fs::path dir, bool group_readable)
    : m_dir(std::move(dir)), m_target(m_dir.string()), m_file_mode(group_readable ? 0440 : 0400),
      m_dir_mode(group_readable ? 0750 : 0700) {}

Expected<void> LocalReplicaStore::open() {
    auto fd = util::open_fd(m_target, O_RDONLY | O_DIRECTORY);
    if (!fd) {
        if (errno == ENOENT) {
            return util::fail(ExitCode::temporary,
                              "open {}: the directory does not exist (create it, or mount the "
                              "disk it is on)",
                              m_target);
        }
        return std::unexpected(fd.error());
    }
    // The lock keeps two runs from removing each other's temporary files. A file system that
    // cannot lock a directory (some network file systems) is used without it.
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        return util::fail(ExitCode::temporary, "lock {}: another restic-replicate is copying to it",
                          m_target);
    }
    m_lock = std::move(*fd);
    m_known_dirs.insert("");
    return {};
}

Expected<std::optional<std::string>> LocalReplicaStore::read_config() {
    std::string path = (m_dir / "config").string();
    auto fd = util::open_fd(path, O_RDONLY | O_NOFOLLOW);
    if (!fd) {
        if (errno == ENOENT) {
            return std::optional<std::string>{};
        }
        return std::unexpected(fd.error());
    }
    auto text = util::read_all(fd->get(), path);
    if (!text) {
        return std::unexpected(text.error());
    }
    return std::optional<std::string>(std::move(*text));
}

Expected<ReplicaListing> LocalReplicaStore::list() {
    ReplicaListing listing;
    std::vector<std::string> dirs = {"", "keys", "index", "snapshots"};
    std::error_code ec;
    for (fs::directory_iterator it(m_dir / "data", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        std::error_code type_ec;
        if (it->symlink_status(type_ec).type() == fs::file_type::directory) {
            dirs.push_back("data/" + it->path().filename().string());
        }
    }
    // Missing, or something else in the way (the copy will say so): nothing listed there.
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
        return util::fail_errno(ec.value(), fmt::format("list {}/data", m_target));
    }
    for (const auto& relative_dir : dirs) {
        fs::path dir = relative_dir.empty() ? m_dir : m_dir / relative_dir;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
                continue;
            }
            return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
        }
        m_known_dirs.insert(relative_dir);
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) {
                return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
            }
            std::string name = it->path().filename().string();
            if (is_replica_temporary_name(name)) {
                if (::unlink(it->path().c_str()) != 0 && errno != ENOENT) {
                    return util::fail_errno(errno, fmt::format("remove {}", it->path().string()));
                }
                ++listing.removed_temporaries;
                continue;
            }
            std::string relative = relative_dir.empty() ? name : relative_dir + "/" + name;
            auto phase = replicate_phase(classify_repository_path(relative));
            if (!phase) {
                continue;
            }
            struct stat st {};
            if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            }
            listing.files.push_back({std::move(relative), static_cast<std::uint64_t>(st.st_size)});
        }
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
        }
    }
    return listing;
}

Expected<void> LocalReplicaStore::ensure_directory(const std::string& relative_dir,
                                                   std::set<std::string>& touched) {
    if (m_known_dirs.contains(relative_dir)) {
        return {};
    }
    std::string parent = parent_of(relative_dir);
    if (auto made = ensure_directory(parent, touched); !made) {
        return made;
    }
    fs::path path = m_dir / relative_dir;
    if (::mkdir(path.c_str(), static_cast<mode_t>(m_dir_mode)) == 0) {
        // The new entry in its parent must be durable before the files in it are relied on.
        touched.insert(parent);
    } else if (errno != EEXIST) {
        return util::fail_errno(errno, fmt::format("create directory {}", path.string()));
    } else {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            return util::fail(ExitCode::permanent, "create directory {}: something else is there",
                              path.string());
        }
    }
    m_known_dirs.insert(relative_dir);
    return {};
}

CopyOutcome LocalReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                    SourceVerifier& verifier, const CopyHook& before_each) {
    CopyOutcome outcome;
    std::set<std::string> touched;
    constexpr std::size_t k_chunk = 1 << 20;
    std::vector<char> buffer(k_chunk);
    const bool content_addressed = phase != ReplicatePhase::config;

    // Copies one file; returns false when the batch must stop (outcome.error is set).
    auto copy_one = [&](const std::string& relative) -> bool {
        if (const auto* known = verifier.find(relative)) {
            if (known->check == SourceCheck::corrupt || known->check == SourceCheck::unreadable) {
                outcome.refused.push_back(relative);
                return true;
            }
            if (known->check == SourceCheck::vanished) {
                outcome.vanished.push_back(relative);
                return true;
            }
        }
        std::string source_path = (fs::path(verifier.root()) / relative).string();
        auto in = util::open_fd(source_path, O_RDONLY | O_NOFOLLOW);
        if (!in) {
            if (errno == ENOENT) {
                verifier.record(relative, {SourceCheck::vanished, 0, {}, {}});
                outcome.vanished.push_back(relative);
            } else {
                verifier.record(relative, {SourceCheck::unreadable, 0, {}, in.error().message()});
                outcome.refused.push_back(relative);
            }
            return true;
        }
        ::posix_fadvise(in->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        std::string relative_dir = parent_of(relative);
        if (auto made = ensure_directory(relative_dir, touched); !made) {
            outcome.error = made.error();
            return false;
        }
        fs::path final_path = m_dir / relative;
        std::string temp =
            fmt::format("{}{}XXXXXX", final_path.string(), k_replica_temporary_marker);
        int raw = ::mkostemp(temp.data(), O_CLOEXEC);
        if (raw < 0) {
            outcome.error = util::fail_errno(errno, fmt::format("create a temporary file in {}",
                                                                (m_dir / relative_dir).string()))
                                .error();
            return false;
        }
        util::Fd out(raw);
        util::ScopeGuard remove_temp([&] { ::unlink(temp.c_str()); });

        // Read once: the bytes that are hashed are the bytes that are written.
        util::Sha256 hash;
        std::uint64_t size = 0;
        for (;;) {
            ssize_t n = ::read(in->get(), buffer.data(), buffer.size());
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                auto error = util::fail_errno(errno, fmt::format("read {}", source_path));
                verifier.record(relative,
                                {SourceCheck::unreadable, size, {}, error.error().message()});
                outcome.refused.push_back(relative);
                return true;
            }
            if (n == 0) {
                break;
            }
            std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
            hash.update(chunk);
            if (auto written = util::write_all(out.get(), chunk, temp); !written) {
                outcome.error = written.error();
                return false;
            }
            size += static_cast<std::uint64_t>(n);
        }
        auto state = judge_content(relative, util::to_hex(hash.finish()), size);
        bool good = state.check == SourceCheck::good;
        verifier.record(relative, std::move(state));
        if (!good) {
            outcome.refused.push_back(relative);
            return true;
        }
        if (::fchmod(out.get(), static_cast<mode_t>(m_file_mode)) != 0) {
            outcome.error =
                util::fail_errno(errno, fmt::format("set the mode of {}", temp)).error();
            return false;
        }
        if (::fsync(out.get()) != 0) {
            outcome.error = util::fail_errno(errno, fmt::format("fsync {}", temp)).error();
            return false;
        }
        out.reset();
        if (rename_noreplace(temp, final_path.string()) != 0) {
            if (errno != EEXIST) {
                outcome.error = util::fail_errno(errno, fmt::format("rename {} to {}", temp,
                                                                    final_path.string()))
                                    .error();
                return false;
            }
            // Already there (a run whose ledger write was lost, or a change behind our back):
            // never replaced; fine when it holds the same content.
            bool same = false;
            if (content_addressed) {
                auto there = util::sha256_file(final_path.string());
                same = there && there->hex == name_of(relative);
            } else {
                auto there = util::read_file(final_path.string());
                auto here = util::read_file(source_path);
                same = there && here && *there == *here;
            }
            if (!same) {
                outcome.error = util::Error(ExitCode::permanent,
                                            fmt::format("unable to copy {}: {} exists with other "
                                                        "content; it is never overwritten",
                                                        relative, final_path.string()));
                return false;
            }
            ++outcome.already_there;
            outcome.present.push_back(relative);
            return true;
        }
        remove_temp.dismiss();
        touched.insert(relative_dir);
        ++outcome.sent;
        outcome.bytes += size;
        outcome.present.push_back(relative);
        return true;
    };

    for (const auto& relative : files) {
        if (before_each) {
            before_each(relative);
        }
        if (!copy_one(relative)) {
            break;
        }
    }
    // One fsync per directory and phase: a crash may lose the last renames of a phase, but the
    // files of the next phase are only renamed once this phase's are durable.
    for (const auto& relative_dir : touched) {
        fs::path dir = relative_dir.empty() ? m_dir : m_dir / relative_dir;
        if (auto synced = util::fsync_directory(dir.string()); !synced) {
            outcome.error = synced.error();
            outcome.present.clear(); // not durable: the ledger must not claim them
            break;
        }
    }
    return outcome;
}

// --- rclone ----------------------------------------------------------------------------------

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
        return std::unexpected(result.error().with_context(fmt::format("{}", what)));
    }
    return result;
}

Expected<void> RcloneReplicaStore::open() {
    auto scratch = util::TempDir::create_in_tmp("restic-replicate");
    if (!scratch) {
        return std::unexpected(scratch.error());
    }
    m_scratch.emplace(std::move(*scratch));
    return {};
}

Expected<std::optional<std::string>> RcloneReplicaStore::read_config() {
    fs::path local = m_scratch->path() / "config";
    std::error_code ec;
    fs::remove(local, ec);
    auto result =
        run({"copyto", "-q", "--retries", "1", rclone_join(m_remote, "config"), local.string()},
            "read the config");
    if (!result) {
        return std::unexpected(result.error());
    }
    // 3: "directory not found", a bucket or path that does not exist yet: no config.
    if (result->exit_code() == 3) {
        return std::optional<std::string>{};
    }
    if (!result->success()) {
        return util::fail(rclone_exit_class(*result), "read {}: rclone copyto: {}",
                          rclone_join(m_remote, "config"), rclone_reason(*result));
    }
    if (!fs::exists(local, ec)) {
        return std::optional<std::string>{}; // rclone copies nothing for a missing file
    }
    auto text = util::read_file(local.string());
    if (!text) {
        return std::unexpected(text.error());
    }
    return std::optional<std::string>(std::move(*text));
}

Expected<ReplicaListing> RcloneReplicaStore::list() {
    auto result = run({"lsf", "-q", "--retries", "1", "-R", "--files-only", "--format", "ps",
                       "--separator", ";", m_remote},
                      "list the destination");
    if (!result) {
        return std::unexpected(result.error());
    }
    ReplicaListing listing;
    if (result->exit_code() == 3) {
        return listing; // nothing there yet
    }
    if (!result->success()) {
        return util::fail(rclone_exit_class(*result), "list {}: rclone lsf: {}", m_remote,
                          rclone_reason(*result));
    }
    std::size_t start = 0;
    const std::string& out = result->out;
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

CopyOutcome RcloneReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                     SourceVerifier& verifier, const CopyHook& before_each) {
    CopyOutcome outcome;
    std::vector<std::string> batch;
    std::uint64_t bytes = 0;
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

std::unique_ptr<ReplicaStore> make_replica_store(const Destination& destination,
                                                 const SourceRepository& source,
                                                 const RcloneSettings& rclone) {
    if (destination.is_local()) {
        return std::make_unique<LocalReplicaStore>(destination.path, source.group_readable);
    }
    return std::make_unique<RcloneReplicaStore>(destination.remote, source.root, rclone);
}

} // namespace backup::core
