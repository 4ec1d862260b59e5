// File-system helpers: whole-file reads, atomic writes and renames, opening below a directory,
// temporary directories, and the check that a file holding secrets is private.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "util/error.hpp"
#include "util/fd.hpp"

namespace backup::util {

// The whole content of path.
Expected<std::string> read_file(const std::string& path);

// Replaces path with data so that a reader sees either the old file or the whole new one, never
// a part: a temp file in the same directory, fchmod(mode), write, fsync, rename, fsync of the
// directory. On failure the temp file is removed and path is untouched.
Expected<void> atomic_write(const std::string& path, std::string_view data, unsigned mode);

// atomic_write without its fsyncs, for a file that checks itself (a cache with a check sum): a
// reader sees the old file or the whole new one; after a crash it may find the old one, or one
// that fails its check. Two fsyncs cost an incremental restic-replicate run a tenth of its time.
Expected<void> atomic_write_unsynced(const std::string& path, std::string_view data, unsigned mode);

// fsync of a directory, so that a rename or create in it survives a crash.
Expected<void> fsync_directory(const std::string& path);

// While one is alive on this thread, atomic_write of a path below root leaves out its two fsyncs:
// root is a private staging tree that its owner flushes with fsync_tree() before a rename
// publishes it. One fsync per file and directory at the end instead of two per file as it is
// written: the first flush commits the file system's journal for all of them, so the rest cost
// little (provisioning writes some 15 files). Writes elsewhere keep their fsyncs. Not nested.
class DeferredSync {
public:
    explicit DeferredSync(std::string root);
    DeferredSync(const DeferredSync&) = delete;
    DeferredSync& operator=(const DeferredSync&) = delete;
    ~DeferredSync();
};

// fsync of every regular file and directory below root and of root itself, each directory after
// what it holds; symbolic links are not followed.
Expected<void> fsync_tree(const std::string& root);

// Creates dir and its missing parents; dir itself (when created) gets mode.
Expected<void> make_directories(const std::string& dir, unsigned mode);

// A directory made with mkdtemp (mode 0700) and removed with everything in it on destruction.
class TempDir {
public:
    // prefix is the path prefix, e.g. "/tmp/restic-audit-"; "XXXXXX" is appended.
    static Expected<TempDir> create(const std::string& prefix);
    // In $TMPDIR (or /tmp), named "<name>-XXXXXX".
    static Expected<TempDir> create_in_tmp(std::string_view name);

    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) noexcept;
    ~TempDir();

    const std::filesystem::path& path() const { return m_path; }
    std::string str() const { return m_path.string(); }
    // Keeps the directory: it is no longer removed on destruction.
    std::filesystem::path release();

private:
    explicit TempDir(std::filesystem::path path) : m_path(std::move(path)) {}
    std::filesystem::path m_path;
};

// True when nothing is at path (stat fails with ENOENT); false when something is, or when it
// cannot be told (permission denied, I/O error): the caller then meets the real error.
bool is_missing(const std::string& path);

// Renames from to to unless to exists (renameat2 with RENAME_NOREPLACE; link and unlink where
// the file system lacks it, since link never replaces either): true when renamed, false when to
// exists and nothing changed.
Expected<bool> rename_noreplace(const std::string& from, const std::string& to);

// Opens root/relative for reading without following a symbolic link anywhere below root (openat2
// with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS; O_NOFOLLOW on the last component where the kernel
// has no openat2), and only when it is a regular file: whoever writes below root (a storage
// server's user) cannot make a process running as root read another file, a FIFO or a device.
Expected<Fd> open_beneath(const std::string& root, const std::string& relative);

// Checks that a file holding secrets is a regular file, not readable or writable by group or
// others, and owned by one of allowed_owners. The error says how to fix it (chmod/chown).
Expected<void> check_secret_file(const std::string& path, const std::vector<uid_t>& allowed_owners);

} // namespace backup::util
