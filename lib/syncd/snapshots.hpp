// What backup-syncd watches: the snapshot files of a repository, and how a listing differs from
// what was synced.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "model/repository.hpp"
#include "state/syncd_state.hpp"
#include "util/error.hpp"

namespace backup::core {

struct SnapshotDiff {
    std::vector<std::string> appeared;
    std::vector<std::string> gone;
    bool empty() const { return appeared.empty() && gone.empty(); }
};
SnapshotDiff diff_snapshots(const SnapshotIds& synced, const SnapshotIds& current);

// The delay before retry number `failures` (1 = first retry): min * 2^(failures-1), capped.
std::chrono::milliseconds retry_delay(int failures, std::chrono::milliseconds min,
                                      std::chrono::milliseconds max);

} // namespace backup::core
