#include "support/replicate_runs.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/random.hpp"

namespace backup::test {

ProcessResult run_replicate(std::vector<std::string> args, const Environment& env) {
    args.insert(args.begin(), tools_dir() + "/restic-replicate");
    return run_cmd(std::move(args), env);
}

ResticClient client_at(const ResticClient& client, const std::string& repository,
                       const fs::path& cache) {
    ResticClient other = client;
    other.env["RESTIC_REPOSITORY"] = repository;
    other.env["RESTIC_CACHE_DIR"] = cache.string();
    return other;
}

void add_random_files(const fs::path& dir, const std::string& prefix, int count, std::size_t size) {
    fs::create_directories(dir);
    for (int i = 0; i < count; ++i) {
        auto bytes = util::random_bytes(size);
        REQUIRE(bytes);
        REQUIRE(util::atomic_write((dir / fmt::format("{}-{}", prefix, i)).string(), *bytes, 0644));
    }
}

} // namespace backup::test
