// Test helpers that read what the tools write: every file of a repository, and whether a
// password matches a crypt(3) hash.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/repository.hpp"
#include "util/error.hpp"

namespace backup::test {

struct RepoFile {
    std::string relative; // e.g. "data/ab/ab12..."
    core::RepoFileKind kind;
};

// Every regular file under root (a repository directory), sorted by relative path. Directories
// are walked but not returned; symlinks are reported as kind other, never followed. A file
// that vanishes while it is listed (a lock) is left out, not an error.
util::Expected<std::vector<RepoFile>> list_repository_files(const std::string& root);

// The relative paths of every file under root but locks; fails the test when root cannot be
// listed.
std::set<std::string> repository_files(const std::string& root);

// Whether password matches a crypt(3) hash (any method libcrypt knows).
bool crypt_matches(std::string_view password, const std::string& hash);

} // namespace backup::test
