#include "audit/hashing.hpp"

#include <algorithm>
#include <cerrno>
#include <sys/stat.h>
#include <thread>

#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;

HashFunction default_hash_function(bool drop_cache) {
    return [drop_cache](const std::string& root,
                        const std::string& relative) -> util::Expected<util::FileHash> {
        util::Fd fd = TRY(util::open_beneath(root, relative));
        return util::sha256_fd(fd.get(), fmt::format("{}/{}", root, relative), drop_cache);
    };
}

namespace {

HashResult hash_one(const std::string& root, const AuditEntry& entry, const HashFunction& hash) {
    std::string path = fmt::format("{}/{}", root, entry.relative);
    HashResult result;
    util::Expected<util::FileHash> hashed =
        std::unexpected(util::Error(ExitCode::temporary, fmt::format("unable to read {}", path)));
    try {
        hashed = hash(root, entry.relative);
    } catch (const std::exception& e) {
        // A worker thread must not let an exception escape (std::terminate); OpenSSL failures and
        // bad_alloc become an unreadable file.
        hashed = util::fail(ExitCode::temporary, "read {}: {}", path, e.what());
    }
    if (!hashed) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
            result.outcome = HashOutcome::vanished;
        } else {
            result.outcome = HashOutcome::unreadable;
            result.error = hashed.error();
        }
        return result;
    }
    result.bytes = hashed->size;
    result.actual = std::move(hashed->hex);
    result.outcome = result.actual == path_file_name(entry.relative) ? HashOutcome::match
                                                                     : HashOutcome::mismatch;
    return result;
}

} // namespace

HashRun hash_selected(const std::string& root, const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, int jobs, AuditBudget& budget,
                      const HashFunction& hash) {
    return hash_selected(entries, selected, jobs, budget,
                         [&](const AuditEntry& entry) { return hash_one(root, entry, hash); });
}

HashRun hash_selected(const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, int jobs, AuditBudget& budget,
                      const EntryHasher& hash) {
    HashRun run;
    run.results.resize(selected.size());
    std::mutex mutex;
    std::size_t next = 0;
    bool stop = false;
    auto worker = [&] {
        for (;;) {
            std::size_t i = 0;
            {
                std::lock_guard lock(mutex);
                if (stop || next >= selected.size()) {
                    return;
                }
                // Claiming under one lock keeps the files started a prefix of the selection.
                if (!budget.try_start(entries[selected[next]].size)) {
                    stop = true;
                    return;
                }
                i = next++;
            }
            HashResult result = hash(entries[selected[i]]);
            bool failed = result.outcome == HashOutcome::unavailable;
            run.results[i] = std::move(result);
            if (failed) {
                std::lock_guard lock(mutex);
                stop = true; // the store is failing: asking it for more only adds errors
            }
        }
    };
    std::size_t threads =
        std::min<std::size_t>(static_cast<std::size_t>(std::max(jobs, 1)), selected.size());
    if (threads <= 1) {
        worker();
    } else {
        std::vector<std::jthread> pool;
        pool.reserve(threads);
        for (std::size_t t = 0; t < threads; ++t) {
            pool.emplace_back(worker);
        }
    }
    run.done = next;
    run.results.resize(run.done);
    return run;
}

} // namespace backup::core
