#include "replicate/source.hpp"

#include "replicate/remote_source.hpp"

#include "util/dir.hpp"
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

std::int64_t SourceRepository::snapshot_time(const std::string& id) const {
    if (remote) {
        auto it = times.find(id);
        return it == times.end() ? 0 : it->second;
    }
    struct stat st {};
    std::string path = (fs::path(root) / replica_path(ReplicatePhase::snapshots, id)).string();
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_mtime) : 0;
}

std::optional<std::uint64_t> SourceRepository::size_of(const std::string& relative) const {
    if (remote) {
        auto it = sizes.find(relative);
        return it == sizes.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
    }
    struct stat st {};
    std::string path = (fs::path(root) / relative).string();
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(st.st_size);
}

std::size_t SourceRepository::file_count() const {
    std::size_t count = config ? 1 : 0;
    for (const auto& list : ids) {
        count += list.size();
    }
    return count;
}

namespace {

// The files of one phase directory (relative_dir below the repository), added to repo: a
// missing directory is empty.
void take_directory(SourceRepository& repo, const std::string& relative_dir) {
    auto entries = util::read_directory(repo.root + "/" + relative_dir, util::IfMissing::empty);
    if (!entries) {
        repo.unlisted.emplace_back(relative_dir, entries.error());
        return;
    }
    for (auto& entry : *entries) {
        std::string relative = fmt::format("{}/{}", relative_dir, entry.name);
        auto phase = replicate_phase(classify_repository_path(relative));
        if (entry.type != util::EntryType::regular || !phase || *phase == ReplicatePhase::config) {
            ++repo.ignored;
            continue;
        }
        repo.ids[phase_index(*phase)].push_back(std::move(entry.name));
    }
}

Expected<void> read_config(SourceRepository& repo) {
    std::string config_path = repo.root + "/config";
    auto config_fd = util::open_fd(config_path, O_RDONLY | O_NOFOLLOW);
    if (!config_fd) {
        if (config_fd.error().errno_code() == ENOENT) {
            return {};
        }
        return std::unexpected(config_fd.error());
    }
    struct stat st {};
    if (::fstat(config_fd->get(), &st) != 0) {
        return util::fail_errno(errno, fmt::format("read {}", config_path));
    }
    if (!S_ISREG(st.st_mode)) {
        return util::fail(ExitCode::permanent, "read {}: not a regular file", config_path);
    }
    repo.config = TRY(util::read_all(config_fd->get(), config_path));
    repo.group_readable = (st.st_mode & S_IRGRP) != 0;
    return {};
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
    // Snapshots first, then index, then data, then keys: see the header.
    take_directory(repo, "snapshots");
    take_directory(repo, "index");
    auto data_dirs = util::read_directory(root + "/data", util::IfMissing::empty);
    if (!data_dirs) {
        repo.unlisted.emplace_back("data", data_dirs.error());
    }
    for (const auto& sub : data_dirs ? *data_dirs : std::vector<util::DirEntry>{}) {
        if (sub.type != util::EntryType::directory) {
            ++repo.ignored; // a pack directly under data/ is misplaced: restic never reads it
            continue;
        }
        take_directory(repo, "data/" + sub.name);
    }
    take_directory(repo, "keys");
    TRY(read_config(repo));
    for (auto& list : repo.ids) {
        std::sort(list.begin(), list.end());
    }
    return repo;
}

Expected<std::array<std::vector<std::string>, k_replicate_phase_count>>
list_source_presence(const SourceRepository& source) {
    if (!source.unlisted.empty()) {
        return std::unexpected(source.unlisted.front().second);
    }
    if (source.remote) {
        return source.remote->presence(source);
    }
    SourceRepository again;
    again.root = source.root;
    take_directory(again, "index"); // index before snapshots: see the header
    take_directory(again, "snapshots");
    if (!again.unlisted.empty()) {
        return std::unexpected(again.unlisted.front().second);
    }
    std::array<std::vector<std::string>, k_replicate_phase_count> present;
    present[phase_index(ReplicatePhase::data)] = source.ids[phase_index(ReplicatePhase::data)];
    for (auto phase : {ReplicatePhase::index, ReplicatePhase::snapshots}) {
        auto& ids = again.ids[phase_index(phase)];
        std::sort(ids.begin(), ids.end());
        present[phase_index(phase)] = std::move(ids);
    }
    return present;
}

SourceFileState judge_content(std::string_view relative, std::string actual, std::uint64_t size) {
    SourceFileState state;
    state.size = size;
    if (is_content_addressed(classify_repository_path(relative)) &&
        actual != path_file_name(relative)) {
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
    auto hashed = [&]() -> Expected<util::FileHash> {
        if (m_remote) {
            util::Sha256 hash;
            util::FileHash out;
            auto read = TRY(m_remote->read(relative, [&](std::string_view chunk) {
                hash.update(chunk);
                out.size += chunk.size();
                return true;
            }));
            if (read == RemoteSource::Read::gone) {
                return std::unexpected(util::Error(ExitCode::temporary,
                                                   fmt::format("read {}: gone", relative), ENOENT));
            }
            out.hex = util::to_hex(hash.finish());
            return out;
        }
        util::Fd fd = TRY(util::open_beneath(m_root, relative));
        return util::sha256_fd(fd.get(), m_root + "/" + relative);
    }();
    if (hashed) {
        state = judge_content(relative, hashed->hex, hashed->size);
    } else if (hashed.error().errno_code() == ENOENT) {
        state.check = SourceCheck::vanished;
    } else {
        state.check = SourceCheck::unreadable;
        state.reason = hashed.error().message();
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
