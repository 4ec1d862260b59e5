// What the restic-replicate end-to-end tests share: running the tool, a restic client's view of a
// replica, and random content for backups.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace backup::test {

// restic-replicate ARGS with env; its result, whatever its exit code.
ProcessResult run_replicate(std::vector<std::string> args, const Environment& env);

// The same client's view of another repository, with a cache of its own (a shared cache would
// let restic read the source's files instead of the replica's).
ResticClient client_at(const ResticClient& client, const std::string& repository,
                       const fs::path& cache);

// count files PREFIX-i of size random bytes in dir (made when missing).
void add_random_files(const fs::path& dir, const std::string& prefix, int count, std::size_t size);

} // namespace backup::test
