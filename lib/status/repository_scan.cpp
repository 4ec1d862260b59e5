#include "status/repository_scan.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>

#include "model/repository.hpp"
#include "util/dir.hpp"
#include "util/fd.hpp"

namespace backup::core {

namespace {

namespace fs = std::filesystem;

enum class DirKind { repository, snapshots, other };

// Directories are opened relative to their parent and entries stat'ed relative to their
// directory: a path lookup per entry (the repository's path is long) was most of the cost.
class TreeWalk {
public:
    TreeWalk(const fs::path& repository, RepositoryScan& scan)
        : m_repository(repository.string()), m_scan(scan) {}

    // Counts the entries of the directory open as fd and everything below it; false when the
    // directory could not be listed.
    bool directory(int fd, DirKind kind);
    void failed(int err) {
        if (!m_scan.walk_error) {
            m_scan.walk_error =
                fmt::format("unable to read {}: {}", m_repository, std::strerror(err));
        }
    }
    bool snapshots_walked() const { return m_snapshots_walked; }

private:
    void descend(int parent, const std::string& name, DirKind kind);

    std::string m_repository;
    RepositoryScan& m_scan;
    bool m_snapshots_walked = false;
};

bool TreeWalk::directory(int fd, DirKind kind) {
    auto entries = util::read_directory_fd(fd, m_repository);
    if (!entries) {
        failed(entries.error().errno_code());
        return false;
    }
    std::size_t snapshots = 0;
    for (const auto& e : *entries) {
        bool snapshot = kind == DirKind::snapshots && e.type == util::EntryType::regular &&
                        is_repository_id(e.name);
        snapshots += snapshot ? 1 : 0;
        struct stat st {};
        if (::fstatat(fd, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue; // gone since it was listed
        }
        m_scan.apparent_bytes += static_cast<std::uint64_t>(st.st_size);
        if (e.type != util::EntryType::directory) {
            m_scan.disk_bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
        if (snapshot) {
            m_scan.snapshot_times.push_back(st.st_mtim.tv_sec);
        }
        if (e.type == util::EntryType::directory) {
            bool snapshots_dir = kind == DirKind::repository && e.name == "snapshots";
            descend(fd, e.name, snapshots_dir ? DirKind::snapshots : DirKind::other);
        }
    }
    if (kind == DirKind::snapshots) {
        m_scan.snapshots = snapshots;
    }
    return true;
}

void TreeWalk::descend(int parent, const std::string& name, DirKind kind) {
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) { // ENOENT: removed since it was listed
            failed(errno);
        }
        return;
    }
    util::Fd owned(fd);
    bool listed = directory(owned.get(), kind);
    if (kind == DirKind::snapshots) {
        m_snapshots_walked = listed;
    }
}

// snapshots/ on its own: its error is the one to report, or it is a symbolic link (followed).
void list_snapshots_alone(const fs::path& repository, RepositoryScan& scan) {
    fs::path dir = repository / "snapshots";
    auto ids = list_snapshot_ids(dir);
    if (!ids) {
        scan.snapshots = std::unexpected(ids.error());
        return;
    }
    scan.snapshots = ids->size();
    for (const auto& id : *ids) {
        struct stat st {};
        if (::stat((dir / id).c_str(), &st) == 0) {
            scan.snapshot_times.push_back(st.st_mtim.tv_sec);
        }
    }
}

} // namespace

RepositoryScan scan_repository(const fs::path& repository) {
    RepositoryScan scan;
    struct stat st {};
    scan.initialised = ::stat((repository / "config").c_str(), &st) == 0;
    for (const auto& dir : {repository.parent_path(), repository}) {
        if (::lstat(dir.c_str(), &st) == 0) {
            scan.apparent_bytes += static_cast<std::uint64_t>(st.st_size);
        }
    }
    TreeWalk walk(repository, scan);
    if (auto fd = util::open_fd(repository.string(), O_RDONLY | O_DIRECTORY)) {
        walk.directory(fd->get(), DirKind::repository);
    } else {
        walk.failed(fd.error().errno_code());
    }
    if (!walk.snapshots_walked()) {
        scan.snapshot_times.clear();
        list_snapshots_alone(repository, scan);
    }
    std::sort(scan.snapshot_times.begin(), scan.snapshot_times.end());
    return scan;
}

} // namespace backup::core
