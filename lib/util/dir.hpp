// Reading directories: the one loop over readdir(3) in the toolkit.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::util {

enum class EntryType { regular, directory, symlink, other };

struct DirEntry {
    std::string name;
    EntryType type = EntryType::other; // of the entry itself: a symbolic link is not followed
};

// What read_directory does with a directory that does not exist.
enum class IfMissing { fail, empty };

// The entries of dir without "." and "..", sorted by name. The type comes from readdir, or from
// lstat where the file system gives none; an entry that vanishes before its type is known (a
// lock restic removed, a pack prune removed) is left out, never an error. Errors name dir and
// carry errno (ENOENT, EACCES, ...); with IfMissing::empty a directory that does not exist
// (ENOENT) is empty.
Expected<std::vector<DirEntry>> read_directory(const std::string& dir,
                                               IfMissing if_missing = IfMissing::fail);

// The same for the directory open as fd (it stays open and owned by the caller); what names it
// in errors.
Expected<std::vector<DirEntry>> read_directory_fd(int fd, std::string_view what);

} // namespace backup::util
