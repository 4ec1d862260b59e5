// The on-disk layout of a restic repository as a storage server keeps it: which files are
// repository files and what kind each one is. No password needed: only names are read.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

enum class RepoFileKind {
    config,       // "config": the only file not named by its hash
    key,          // keys/<id>
    pack,         // data/<xx>/<id>, xx = the first two characters of id
    misplaced_pack, // data/<yy>/<id> with yy not matching id, or data/<id>
    index,        // index/<id>
    snapshot,     // snapshots/<id>
    lock,         // locks/<id>
    other,        // anything else: temp files of servers and restic, strays
};

// True when name is exactly 64 lowercase hex characters (a SHA-256 in restic's spelling).
bool is_repository_id(std::string_view name);

// Classifies a path relative to the repository root, with '/' separators.
RepoFileKind classify_repository_path(std::string_view relative);

// Whether files of this kind are named by the SHA-256 of their content.
bool is_content_addressed(RepoFileKind kind);

std::string_view to_string(RepoFileKind kind);

struct RepoFile {
    std::string relative; // e.g. "data/ab/ab12..."
    RepoFileKind kind;
};

// Every regular file under root (a repository directory), sorted by relative path. Directories
// are walked but not returned; symlinks are reported as kind other, never followed. A file
// that vanishes while it is listed (a lock) is left out, not an error.
util::Expected<std::vector<RepoFile>> list_repository_files(const std::string& root);

} // namespace backup::core
