#include "core/replicate_source.hpp"

#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace backup::core {

namespace fs = std::filesystem;
using util::ExitCode;
using util::Expected;

std::string_view to_string(ReplicatePhase phase) {
    switch (phase) {
    case ReplicatePhase::keys:
        return "keys";
    case ReplicatePhase::config:
        return "config";
    case ReplicatePhase::data:
        return "data";
    case ReplicatePhase::index:
        return "index";
    case ReplicatePhase::snapshots:
        return "snapshots";
    }
    return "config";
}

std::optional<ReplicatePhase> replicate_phase(RepoFileKind kind) {
    switch (kind) {
    case RepoFileKind::config:
        return ReplicatePhase::config;
    case RepoFileKind::key:
        return ReplicatePhase::keys;
    case RepoFileKind::pack:
        return ReplicatePhase::data;
    case RepoFileKind::index:
        return ReplicatePhase::index;
    case RepoFileKind::snapshot:
        return ReplicatePhase::snapshots;
    case RepoFileKind::misplaced_pack:
    case RepoFileKind::lock:
    case RepoFileKind::other:
        return std::nullopt;
    }
    return std::nullopt;
}

std::string replica_path(ReplicatePhase phase, std::string_view id) {
    switch (phase) {
    case ReplicatePhase::config:
        return "config";
    case ReplicatePhase::data:
        return fmt::format("data/{}/{}", id.substr(0, 2), id);
    case ReplicatePhase::keys:
    case ReplicatePhase::index:
    case ReplicatePhase::snapshots:
        break;
    }
    return fmt::format("{}/{}", to_string(phase), id);
}

std::int64_t SourceRepository::snapshot_time(const std::string& id) const {
    struct stat st {};
    std::string path = (fs::path(root) / replica_path(ReplicatePhase::snapshots, id)).string();
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_mtime) : 0;
}

std::size_t SourceRepository::file_count() const {
    std::size_t count = config ? 1 : 0;
    for (const auto& list : ids) {
        count += list.size();
    }
    return count;
}

namespace {

// The names in dir with the type from readdir (no stat unless the file system gives no type).
// A directory that does not exist (yet, or no longer) is empty.
Expected<std::vector<fs::directory_entry>> read_directory(const fs::path& dir) {
    std::vector<fs::directory_entry> entries;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) {
            return entries;
        }
        return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
        }
        entries.push_back(*it);
    }
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("list {}", dir.string()));
    }
    return entries;
}

// The type of an entry without following a symbolic link; none when it vanished.
fs::file_type entry_type(const fs::directory_entry& entry) {
    std::error_code ec;
    auto status = entry.symlink_status(ec);
    return ec ? fs::file_type::none : status.type();
}

} // namespace

Expected<SourceRepository> list_source_repository(const std::string& root) {
    SourceRepository repo;
    repo.root = root;
    struct stat root_st {};
    if (::stat(root.c_str(), &root_st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return util::fail(ExitCode::permanent, "read repository {}: no such directory", root);
        }
        return util::fail_errno(errno, fmt::format("read repository {}", root));
    }
    if (!S_ISDIR(root_st.st_mode)) {
        return util::fail(ExitCode::permanent, "read repository {}: not a directory", root);
    }
    fs::path base(root);

    // A file of one phase directory: a repository file of that phase, or ignored.
    auto take = [&](const fs::directory_entry& entry, std::string_view relative_dir) {
        if (entry_type(entry) != fs::file_type::regular) {
            ++repo.ignored;
            return;
        }
        std::string relative = fmt::format("{}/{}", relative_dir, entry.path().filename().string());
        auto phase = replicate_phase(classify_repository_path(relative));
        if (!phase || *phase == ReplicatePhase::config) {
            ++repo.ignored;
            return;
        }
        repo.ids[phase_index(*phase)].push_back(entry.path().filename().string());
    };

    // Snapshots first, then index, then data, then keys: see the header.
    for (auto phase : {ReplicatePhase::snapshots, ReplicatePhase::index}) {
        auto entries = read_directory(base / std::string(to_string(phase)));
        if (!entries) {
            return std::unexpected(entries.error());
        }
        for (const auto& entry : *entries) {
            take(entry, to_string(phase));
        }
    }
    auto data_dirs = read_directory(base / "data");
    if (!data_dirs) {
        return std::unexpected(data_dirs.error());
    }
    for (const auto& sub : *data_dirs) {
        if (entry_type(sub) != fs::file_type::directory) {
            ++repo.ignored; // a pack directly under data/ is misplaced: restic never reads it
            continue;
        }
        std::string relative_dir = "data/" + sub.path().filename().string();
        auto entries = read_directory(sub.path());
        if (!entries) {
            return std::unexpected(entries.error());
        }
        for (const auto& entry : *entries) {
            take(entry, relative_dir);
        }
    }
    auto keys = read_directory(base / "keys");
    if (!keys) {
        return std::unexpected(keys.error());
    }
    for (const auto& entry : *keys) {
        take(entry, "keys");
    }

    std::string config_path = (base / "config").string();
    auto config_fd = util::open_fd(config_path, O_RDONLY | O_NOFOLLOW);
    if (config_fd) {
        struct stat st {};
        if (::fstat(config_fd->get(), &st) != 0) {
            return util::fail_errno(errno, fmt::format("read {}", config_path));
        }
        if (!S_ISREG(st.st_mode)) {
            return util::fail(ExitCode::permanent, "read {}: not a regular file", config_path);
        }
        auto text = util::read_all(config_fd->get(), config_path);
        if (!text) {
            return std::unexpected(text.error());
        }
        repo.config = std::move(*text);
        repo.group_readable = (st.st_mode & S_IRGRP) != 0;
    } else if (errno != ENOENT) {
        return std::unexpected(config_fd.error());
    }

    for (auto& list : repo.ids) {
        std::sort(list.begin(), list.end());
    }
    return repo;
}

std::string_view to_string(SourceCheck check) {
    switch (check) {
    case SourceCheck::good:
        return "good";
    case SourceCheck::corrupt:
        return "corrupt";
    case SourceCheck::vanished:
        return "vanished";
    case SourceCheck::unreadable:
        return "unreadable";
    }
    return "unreadable";
}

SourceFileState judge_content(std::string_view relative, std::string actual, std::uint64_t size) {
    SourceFileState state;
    state.size = size;
    auto slash = relative.rfind('/');
    std::string_view name = slash == std::string_view::npos ? relative : relative.substr(slash + 1);
    if (is_content_addressed(classify_repository_path(relative)) && actual != name) {
        state.check = SourceCheck::corrupt;
        state.reason =
            fmt::format("its content hashes to {}, not to its name ({} bytes)", actual, size);
    }
    state.actual = std::move(actual);
    return state;
}

const SourceFileState& SourceVerifier::verify(const std::string& relative) {
    if (auto it = m_states.find(relative); it != m_states.end()) {
        return it->second;
    }
    SourceFileState state;
    std::string path = (fs::path(m_root) / relative).string();
    auto hashed = util::sha256_file(path);
    if (hashed) {
        state = judge_content(relative, hashed->hex, hashed->size);
    } else {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
            state.check = SourceCheck::vanished;
        } else {
            state.check = SourceCheck::unreadable;
            state.reason = hashed.error().message();
        }
    }
    return m_states.insert_or_assign(relative, std::move(state)).first->second;
}

void SourceVerifier::record(const std::string& relative, SourceFileState state) {
    m_states.insert_or_assign(relative, std::move(state));
}

const SourceFileState* SourceVerifier::find(const std::string& relative) const {
    auto it = m_states.find(relative);
    return it == m_states.end() ? nullptr : &it->second;
}

} // namespace backup::core
