#include "util/dir.hpp"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fd.hpp"

namespace backup::util {

namespace {

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

EntryType type_of_mode(mode_t mode) {
    if (S_ISREG(mode)) {
        return EntryType::regular;
    }
    if (S_ISDIR(mode)) {
        return EntryType::directory;
    }
    if (S_ISLNK(mode)) {
        return EntryType::symlink;
    }
    return EntryType::other;
}

std::optional<EntryType> type_of_dirent(unsigned char type) {
    switch (type) {
    case DT_REG:
        return EntryType::regular;
    case DT_DIR:
        return EntryType::directory;
    case DT_LNK:
        return EntryType::symlink;
    case DT_UNKNOWN:
        return std::nullopt;
    default:
        return EntryType::other;
    }
}

// Reads a DIR stream to its end. The stream owns its descriptor.
Expected<std::vector<DirEntry>> read_stream(DIR* dir, std::string_view what) {
    std::vector<DirEntry> entries;
    int fd = ::dirfd(dir);
    for (;;) {
        errno = 0;
        const dirent* ent = ::readdir(dir);
        if (ent == nullptr) {
            if (errno != 0) {
                return fail_errno(errno, fmt::format("list {}", what));
            }
            break;
        }
        std::string_view name = ent->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        auto type = type_of_dirent(ent->d_type);
        if (!type) {
            struct stat st {};
            if (::fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) {
                    continue; // gone since readdir
                }
                return fail_errno(errno, fmt::format("stat {}/{}", what, name));
            }
            type = type_of_mode(st.st_mode);
        }
        entries.push_back({std::string(name), *type});
    }
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return entries;
}

} // namespace

Expected<std::vector<DirEntry>> read_directory(const std::string& dir, IfMissing if_missing) {
    auto fd = open_fd(dir, O_RDONLY | O_DIRECTORY);
    if (!fd) {
        if (if_missing == IfMissing::empty && fd.error().errno_code() == ENOENT) {
            return std::vector<DirEntry>{};
        }
        return fail_errno(fd.error().errno_code(), fmt::format("list {}", dir));
    }
    DirHandle stream(::fdopendir(fd->get()));
    if (!stream) {
        return fail_errno(errno, fmt::format("list {}", dir));
    }
    fd->release(); // the stream owns it now
    return read_stream(stream.get(), dir);
}

Expected<std::vector<DirEntry>> read_directory_fd(int fd, std::string_view what) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        return fail_errno(errno, fmt::format("list {}", what));
    }
    Fd owned(copy);
    DirHandle stream(::fdopendir(owned.get()));
    if (!stream) {
        return fail_errno(errno, fmt::format("list {}", what));
    }
    owned.release();
    // The duplicate shares the offset with fd: start from the top whatever was read before.
    ::rewinddir(stream.get());
    return read_stream(stream.get(), what);
}

} // namespace backup::util
