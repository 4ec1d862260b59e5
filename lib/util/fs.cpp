#include "util/fs.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "util/fd.hpp"
#include "util/scope_guard.hpp"

namespace backup::util {

namespace fs = std::filesystem;

Expected<std::string> read_file(const std::string& path) {
    Fd fd = TRY(open_fd(path, O_RDONLY));
    return read_all(fd.get(), path);
}

Expected<void> fsync_directory(const std::string& path) {
    Fd fd = TRY(open_fd(path, O_RDONLY | O_DIRECTORY));
    if (::fsync(fd.get()) != 0) {
        return fail_errno(errno, fmt::format("fsync {}", path));
    }
    return {};
}

namespace {

thread_local std::string t_deferred_root; // DeferredSync's root, with a trailing '/'

bool sync_deferred(const std::string& path) {
    return !t_deferred_root.empty() && path.starts_with(t_deferred_root);
}

} // namespace

DeferredSync::DeferredSync(std::string root) {
    if (!root.ends_with('/')) {
        root += '/';
    }
    t_deferred_root = std::move(root);
}

DeferredSync::~DeferredSync() {
    t_deferred_root.clear();
}

Expected<void> fsync_tree(const std::string& root) {
    std::vector<std::string> dirs{root};
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        auto type = it->symlink_status(ec).type();
        if (ec) {
            break;
        }
        if (type == fs::file_type::directory) {
            dirs.push_back(it->path().string());
        } else if (type == fs::file_type::regular) {
            files.push_back(it->path().string());
        }
    }
    if (ec) {
        return fail_errno(ec.value(), fmt::format("list {}", root));
    }
    // Every file's writeback started before the first fsync waits: the data goes to the disk in
    // one batch, and the blocks each file gets are allocated now, so the first fsync writes
    // the metadata they share (inode table, journal) once and the later ones find it written.
    // Only a hint: a failure here is found by the fsync below.
    for (const auto& file : files) {
        Fd fd = TRY(open_fd(file, O_RDONLY | O_NOFOLLOW));
        (void)::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    for (const auto& file : files) {
        Fd fd = TRY(open_fd(file, O_RDONLY | O_NOFOLLOW));
        if (::fsync(fd.get()) != 0) {
            return fail_errno(errno, fmt::format("fsync {}", file));
        }
    }
    // Found parents first: the reverse flushes each directory after everything in it.
    for (auto dir = dirs.rbegin(); dir != dirs.rend(); ++dir) {
        TRY(fsync_directory(*dir));
    }
    return {};
}

namespace {

// atomic_write, with its two fsyncs (sync) or without.
Expected<void> write_and_rename(const std::string& path, std::string_view data, unsigned mode,
                                bool sync) {
    bool deferred = !sync;
    fs::path target(path);
    fs::path dir = target.parent_path();
    if (dir.empty()) {
        dir = ".";
    }
    std::string temp = (dir / fmt::format(".{}.tmp-XXXXXX", target.filename().string())).string();
    int raw = ::mkostemp(temp.data(), O_CLOEXEC);
    if (raw < 0) {
        return fail_errno(errno, fmt::format("create a temporary file for {}", path));
    }
    Fd fd(raw);
    ScopeGuard remove_temp([&] { ::unlink(temp.c_str()); });

    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
        return fail_errno(errno, fmt::format("set the mode of {}", temp));
    }
    if (auto written = write_all(fd.get(), data, temp); !written) {
        return written;
    }
    if (!deferred && ::fsync(fd.get()) != 0) {
        return fail_errno(errno, fmt::format("fsync {}", temp));
    }
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        return fail_errno(errno, fmt::format("rename {} to {}", temp, path));
    }
    remove_temp.dismiss();
    return deferred ? Expected<void>{} : fsync_directory(dir.string());
}

} // namespace

Expected<void> atomic_write(const std::string& path, std::string_view data, unsigned mode) {
    return write_and_rename(path, data, mode, !sync_deferred(path));
}

Expected<void> atomic_write_unsynced(const std::string& path, std::string_view data,
                                     unsigned mode) {
    return write_and_rename(path, data, mode, false);
}

Expected<void> make_directories(const std::string& dir, unsigned mode) {
    std::error_code ec;
    fs::path p(dir);
    if (fs::is_directory(p, ec)) {
        return {};
    }
    if (p.has_parent_path() && p.parent_path() != p) {
        if (auto parent = make_directories(p.parent_path().string(), 0755); !parent) {
            return parent;
        }
    }
    if (::mkdir(dir.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) {
        return fail_errno(errno, fmt::format("create directory {}", dir));
    }
    // mkdir applies the umask; the caller asked for exactly this mode.
    if (::chmod(dir.c_str(), static_cast<mode_t>(mode)) != 0) {
        return fail_errno(errno, fmt::format("set the mode of {}", dir));
    }
    return {};
}

Expected<TempDir> TempDir::create(const std::string& prefix) {
    std::string templ = prefix + "XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
        return fail_errno(errno, fmt::format("create a temporary directory {}", templ));
    }
    return TempDir(fs::path(templ));
}

Expected<TempDir> TempDir::create_in_tmp(std::string_view name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    return create(fmt::format("{}/{}-", base, name));
}

TempDir::TempDir(TempDir&& other) noexcept : m_path(std::move(other.m_path)) {
    other.m_path.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
    if (this != &other) {
        std::error_code ec;
        if (!m_path.empty()) {
            fs::remove_all(m_path, ec);
        }
        m_path = std::move(other.m_path);
        other.m_path.clear();
    }
    return *this;
}

TempDir::~TempDir() {
    if (!m_path.empty()) {
        std::error_code ec;
        // A test may leave read-only directories behind; make them removable first.
        for (auto it = fs::recursive_directory_iterator(
                 m_path, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
            }
        }
        fs::remove_all(m_path, ec);
    }
}

fs::path TempDir::release() {
    fs::path p = std::move(m_path);
    m_path.clear();
    return p;
}

bool is_missing(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

Expected<bool> rename_noreplace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
        return true;
    }
    int err = errno;
    if (err == EINVAL || err == ENOSYS || err == ENOTSUP) {
        if (::link(from.c_str(), to.c_str()) == 0) {
            ::unlink(from.c_str());
            return true;
        }
        err = errno;
    }
    if (err == EEXIST) {
        return false;
    }
    return fail_errno(err, fmt::format("rename {} to {}", from, to));
}

Expected<Fd> open_beneath(const std::string& root, const std::string& relative) {
    std::string path = fmt::format("{}/{}", root, relative);
    Fd dir = TRY(open_fd(root, O_RDONLY | O_DIRECTORY));
    open_how how{};
    // O_NONBLOCK: a FIFO swapped in after a listing must not block the open.
    how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = -1;
    do {
        fd = ::syscall(SYS_openat2, dir.get(), relative.c_str(), &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        // No openat2 (Linux < 5.6, or a seccomp filter): O_NOFOLLOW covers the file itself.
        do {
            fd = ::openat(dir.get(), relative.c_str(),
                          O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
        } while (fd < 0 && errno == EINTR);
    }
    if (fd < 0) {
        return fail_errno(errno, fmt::format("open {}", path));
    }
    Fd file(static_cast<int>(fd));
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) {
        return fail_errno(errno, fmt::format("stat {}", path));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ExitCode::temporary, "read {}: not a regular file", path);
    }
    // Reads block as usual from here on.
    ::fcntl(file.get(), F_SETFL, ::fcntl(file.get(), F_GETFL) & ~O_NONBLOCK);
    return file;
}

Expected<void> check_secret_file(const std::string& path,
                                 const std::vector<uid_t>& allowed_owners) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return fail_errno(errno, fmt::format("read {}", path));
    }
    if (!S_ISREG(st.st_mode)) {
        return fail(ExitCode::permanent, "use {} as a secret file: not a regular file", path);
    }
    if ((st.st_mode & 077) != 0) {
        return fail(ExitCode::permanent,
                    "use {}: it holds secrets but is accessible by group or others (mode {:04o}); "
                    "run 'chmod 600 {}'",
                    path, st.st_mode & 07777, path);
    }
    if (std::find(allowed_owners.begin(), allowed_owners.end(), st.st_uid) ==
        allowed_owners.end()) {
        return fail(ExitCode::permanent,
                    "use {}: it holds secrets but is owned by uid {}, not by the user running this "
                    "(uid {}) or root; run 'chown {} {}'",
                    path, st.st_uid, ::getuid(), ::getuid(), path);
    }
    return {};
}

} // namespace backup::util
