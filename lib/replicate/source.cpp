#include "replicate/source.hpp"

#include "replicate/remote_source.hpp"

#include "util/dir.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <iterator>
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

// Adds the regular files of entries named as files of phase to repo's ids, in their order (a
// pack's name begins with its directory's name, prefix); the rest is counted as ignored.
std::size_t take_entries(SourceRepository& repo, ReplicatePhase phase, std::string_view prefix,
                         std::vector<util::DirEntry>& entries) {
    std::size_t ignored = 0;
    auto& ids = repo.ids[phase_index(phase)];
    for (auto& entry : entries) {
        // classify_repository_path's rules without building each path.
        if (entry.type != util::EntryType::regular || !is_repository_id(entry.name) ||
            (phase == ReplicatePhase::data && entry.name.substr(0, 2) != prefix)) {
            ++ignored;
            continue;
        }
        ids.push_back(std::move(entry.name));
    }
    repo.ignored += ignored;
    return ignored;
}

// The files of one phase directory (relative_dir below the repository), added to repo: a
// missing directory is empty.
void take_directory(SourceRepository& repo, const std::string& relative_dir, ReplicatePhase phase) {
    auto entries = util::read_directory(repo.root + "/" + relative_dir, util::IfMissing::empty);
    if (!entries) {
        repo.unlisted.emplace_back(relative_dir, entries.error());
        return;
    }
    take_entries(repo, phase, "", *entries);
}

DirectoryStamp stamp_of(const struct stat& st) {
    return DirectoryStamp{static_cast<std::uint64_t>(st.st_ino),
                          st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec,
                          st.st_ctim.tv_sec * 1'000'000'000LL + st.st_ctim.tv_nsec};
}

// Reads the pack directory data/<name> (data open as data_fd) into repo, and records it in
// next: nothing is recorded for one that could not be read or is gone.
void read_pack_directory(SourceRepository& repo, int data_fd, const std::string& name,
                         SourceListing* next) {
    std::string relative = "data/" + name;
    util::Fd fd(::openat(data_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
        if (errno != ENOENT) { // gone since data/ was read: empty
            repo.unlisted.emplace_back(
                relative,
                util::fail_errno(errno, fmt::format("list {}/{}", repo.root, relative)).error());
        }
        return;
    }
    // The stamp is taken before the entries are read: a change while they are read leaves a
    // newer stamp than the one recorded.
    auto entries = util::read_directory_fd(fd.get(), repo.root + "/" + relative);
    if (!entries) {
        repo.unlisted.emplace_back(relative, entries.error());
        return;
    }
    std::size_t before = repo.ids[phase_index(ReplicatePhase::data)].size();
    std::size_t ignored = take_entries(repo, ReplicatePhase::data, name, *entries);
    if (next) {
        next->directories.push_back({name, stamp_of(st), ignored,
                                     repo.ids[phase_index(ReplicatePhase::data)].size() - before});
    }
}

// The previous listing, when it may be used for this one of data/ (on device).
SourceListing* usable_previous(const SourceRepository& repo, ListingMemory* memory,
                               std::uint64_t device, std::int64_t now) {
    if (memory == nullptr || !memory->previous) {
        return nullptr;
    }
    SourceListing& previous = *memory->previous;
    bool overdue = now - previous.full_listing >= k_full_listing_interval ||
                   previous.full_listing > now + k_full_listing_interval;
    if (previous.source != repo.root || previous.device != device || overdue) {
        return nullptr;
    }
    return &previous;
}

// data/ and its pack directories: those the previous listing trusts from it, the others read.
void take_packs(SourceRepository& repo, ListingMemory* memory) {
    SourceListing* next = memory ? &memory->next : nullptr;
    std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    std::string data = repo.root + "/data";
    auto fd = util::open_fd(data, O_RDONLY | O_DIRECTORY);
    struct stat st {};
    if (!fd || ::fstat(fd->get(), &st) != 0) {
        int err = fd ? errno : fd.error().errno_code();
        if (err != ENOENT) { // a missing data/ is empty
            repo.unlisted.emplace_back("data",
                                       util::fail_errno(err, fmt::format("list {}", data)).error());
        }
        return;
    }
    auto subs = util::read_directory_fd(fd->get(), data);
    if (!subs) {
        repo.unlisted.emplace_back("data", subs.error());
        return;
    }
    SourceListing* previous = usable_previous(repo, memory, st.st_dev, now_ns / 1'000'000'000);
    if (next) {
        next->source = repo.root;
        next->device = st.st_dev;
        next->listed_ns = now_ns;
        next->full_listing = previous ? previous->full_listing : now_ns / 1'000'000'000;
    }
    auto& ids = repo.ids[phase_index(ReplicatePhase::data)];
    std::size_t p = 0;      // previous->directories[p]: the first not before this one
    std::size_t offset = 0; // where its ids begin in previous->ids
    for (const auto& sub : *subs) {
        if (sub.type != util::EntryType::directory) {
            ++repo.ignored; // a pack directly under data/ is misplaced: restic never reads it
            continue;
        }
        while (previous && p < previous->directories.size() &&
               previous->directories[p].name < sub.name) {
            offset += previous->directories[p++].count;
        }
        struct stat sub_st {};
        if (previous && p < previous->directories.size() &&
            previous->directories[p].name == sub.name &&
            ::fstatat(fd->get(), sub.name.c_str(), &sub_st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(sub_st.st_mode) &&
            stamp_trusted(previous->directories[p].stamp, stamp_of(sub_st), previous->listed_ns)) {
            const ListedDirectory& known = previous->directories[p];
            auto first = previous->ids.begin() + static_cast<std::ptrdiff_t>(offset);
            ids.insert(ids.end(), std::make_move_iterator(first),
                       std::make_move_iterator(first + static_cast<std::ptrdiff_t>(known.count)));
            repo.ignored += known.ignored;
            next->directories.push_back(known);
            ++memory->reused;
            continue;
        }
        read_pack_directory(repo, fd->get(), sub.name, next);
        if (memory) {
            ++memory->read;
        }
    }
    if (memory) {
        // Every directory read has a new stamp, listing time or content to remember; one gone
        // from data/ must be forgotten.
        memory->changed = memory->read > 0 || !previous ||
                          previous->directories.size() != next->directories.size();
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

Expected<SourceRepository> list_source_repository(const std::string& root, ListingMemory* memory) {
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
    take_directory(repo, "snapshots", ReplicatePhase::snapshots);
    take_directory(repo, "index", ReplicatePhase::index);
    take_packs(repo, memory);
    take_directory(repo, "keys", ReplicatePhase::keys);
    TRY(read_config(repo));
    // Each directory's entries come sorted, and the pack directories in the order of the ids
    // they hold: sorted already, as the callers need.
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
    take_directory(again, "index", ReplicatePhase::index); // index before snapshots: see the header
    take_directory(again, "snapshots", ReplicatePhase::snapshots);
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
