// From "what I want backed up" (an include list) to the exclude patterns that make
// `restic backup /` save exactly that: the directories on the way to each include ("spine")
// and everything below each include, nothing else.
//
// Terms used below. Paths in an include list and in UnrollResult are *tree paths*: absolute,
// normalised ("/a/b", "/" for the top), relative to the tree's root (--root, "/" by default).
// The file system is reached at root + tree path. A *spine directory* is a directory on the way
// from "/" to an include, after resolving symbolic links; it is read (listed) exactly once.
// A *kept entry* is an include, or a symbolic link that an include's path runs through: it is
// saved with everything below it and never read. Every other entry of a spine directory is
// *excluded*.
#pragma once

#include "util/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

// --- the include list ------------------------------------------------------------------------

// Parses an include list: one absolute path per line ('\n' separated, taken byte for byte, so
// white space around a path is part of it). Lines that are empty or hold only white space, and
// lines whose first non-blank character is '#', are ignored. Each path is normalised: repeated
// slashes, "." components and a trailing slash go. Returns the distinct paths, sorted.
// Errors (code 100) name source_name and the line; every bad line is reported at once: a path
// that is not absolute, a ".." component, a NUL byte, and a list with no path at all.
util::Expected<std::vector<std::string>> parse_include_list(std::string_view text,
                                                            std::string_view source_name);

// --- file-system access ----------------------------------------------------------------------

enum class FileType {
    missing, // no such entry (ENOENT, or a component on the way is not a directory: ENOTDIR)
    directory,
    symlink,
    other, // regular file, device, socket, fifo
};

// What unroll() needs from a file system, so that its decisions can be tested and counted.
// Paths are host paths (root already joined).
class FileSystemView {
public:
    virtual ~FileSystemView() = default;
    // The names in directory path, without "." and "..", in any order.
    virtual util::Expected<std::vector<std::string>> list_directory(const std::string& path) = 0;
    // The type of path itself (a symbolic link is not followed).
    virtual util::Expected<FileType> lstat(const std::string& path) = 0;
    // The target of symbolic link path, as stored.
    virtual util::Expected<std::string> readlink(const std::string& path) = 0;
};

// The real file system: one open(O_DIRECTORY) per list_directory(), nothing cached.
class RealFileSystem final : public FileSystemView {
public:
    util::Expected<std::vector<std::string>> list_directory(const std::string& path) override;
    util::Expected<FileType> lstat(const std::string& path) override;
    util::Expected<std::string> readlink(const std::string& path) override;
    // How many directories list_directory() has opened.
    std::size_t directories_opened() const { return m_directories_opened; }

private:
    std::size_t m_directories_opened = 0;
};

// --- unrolling -------------------------------------------------------------------------------

// At most this many symbolic links are followed while resolving one include (as Linux does).
inline constexpr int k_max_symlink_hops = 40;

struct UnrollStats {
    std::size_t includes = 0;          // include paths given
    std::size_t spine_directories = 0; // directories on the way to an include, "/" included
    std::size_t directories_read = 0;  // list_directory() calls: equals spine_directories
    std::size_t kept_links = 0;        // symbolic links kept because an include runs through them
    std::size_t excludes = 0;          // patterns in UnrollResult::excludes
};

struct UnrollResult {
    // The exclude patterns, sorted by bytes, ready for `restic backup --exclude-file`: each is
    // root + the excluded tree path, anchored, in restic's pattern syntax (see
    // exclude_pattern()), matching exactly that path and what lies below it.
    std::vector<std::string> excludes;
    // Includes that are not backed up (missing, through a non-directory, a symbolic-link loop,
    // unreadable), one line each, "unable to back up include ...". The rest is complete.
    std::vector<std::string> problems;
    std::vector<std::string> spine; // tree paths of the spine directories, sorted (with "/")
    std::vector<std::string> kept;  // tree paths of the kept entries, sorted
    UnrollStats stats;
};

// Computes the excludes for includes (tree paths as parse_include_list() returns them) under
// root ("" or "/" for the real root, else an absolute host path). Symbolic links on the way to
// an include are followed (relative targets from the link's directory, absolute ones from
// root, ".." never above root, at most k_max_symlink_hops per include) and kept themselves; an
// include that is itself a symbolic link is kept as the link. An include below another include
// adds nothing. Each spine directory is listed once; nothing below an include is ever listed.
// Errors: a spine directory that cannot be listed (the code of its errno); a root that is
// relative, missing, a symbolic link or not a directory (100); an include that is not a
// normalised absolute path (100); and (100, one line for each) an
// excluded entry whose pattern needs a wildcard (see exclude_pattern()) that would also match a
// spine directory, a kept entry or a path below a kept directory, naming both.
util::Expected<UnrollResult> unroll(const std::vector<std::string>& includes,
                                    const std::string& root, FileSystemView& fs);

// A path as one line of a restic exclude file. Every component is matched by restic with Go's
// filepath.Match, so '*', '?', '[', ']' and '\' are escaped with '\'. Characters restic cannot
// read literally from an exclude file become the wildcard '?', which matches exactly one
// character (one UTF-8 rune, or one byte of invalid UTF-8): a newline (the file is read line by
// line), every '$' (restic expands $VAR and ${VAR}) and the last character of the path when it
// is Unicode white space (restic trims each line as Go's strings.TrimSpace does).
struct ExcludePattern {
    std::string text;
    bool has_wildcard = false; // true when the pattern may match other names too
};
ExcludePattern exclude_pattern(std::string_view absolute_path);

// Whether pattern (as exclude_pattern() makes them) matches path the way restic applies an
// anchored pattern: component by component, against path itself or one of its ancestors.
bool pattern_matches(std::string_view pattern, std::string_view absolute_path);

// The exclude file: each pattern followed by '\n'.
std::string render_excludes(const UnrollResult& result);

} // namespace backup::core
