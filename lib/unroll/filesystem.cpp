#include "unroll/unroll.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dir.hpp"
#include "util/fd.hpp"

namespace backup::core {

using util::Expected;

Expected<std::vector<std::string>> RealFileSystem::list_directory(const std::string& path) {
    // O_NOFOLLOW: a spine directory was seen as a directory; a link swapped in since then must
    // not lead the listing elsewhere.
    util::Fd fd = TRY(util::open_fd(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    ++m_directories_opened;
    auto entries = TRY(util::read_directory_fd(fd.get(), path));
    std::vector<std::string> names;
    names.reserve(entries.size());
    for (auto& entry : entries) {
        names.push_back(std::move(entry.name));
    }
    return names;
}

Expected<FileType> RealFileSystem::lstat(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return FileType::missing;
        }
        return util::fail_errno(errno, fmt::format("look up {}", path));
    }
    if (S_ISDIR(st.st_mode)) {
        return FileType::directory;
    }
    if (S_ISLNK(st.st_mode)) {
        return FileType::symlink;
    }
    return FileType::other;
}

Expected<std::string> RealFileSystem::readlink(const std::string& path) {
    std::string buffer(256, '\0');
    for (;;) {
        ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
        if (n < 0) {
            return util::fail_errno(errno, fmt::format("read symbolic link {}", path));
        }
        if (static_cast<std::size_t>(n) < buffer.size()) {
            buffer.resize(static_cast<std::size_t>(n));
            return buffer;
        }
        buffer.resize(buffer.size() * 2); // possibly truncated: try again with more room
    }
}

} // namespace backup::core
