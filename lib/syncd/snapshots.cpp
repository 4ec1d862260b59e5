#include "syncd/snapshots.hpp"

#include <algorithm>
#include <iterator>

#include "model/repository.hpp"
#include "util/dir.hpp"

namespace backup::core {

util::Expected<SnapshotIds> list_snapshot_ids(const std::filesystem::path& dir) {
    auto entries = TRY(util::read_directory(dir.string()));
    SnapshotIds ids;
    for (auto& entry : entries) {
        if (entry.type == util::EntryType::regular && is_repository_id(entry.name)) {
            ids.insert(std::move(entry.name));
        }
    }
    return ids;
}

SnapshotDiff diff_snapshots(const SnapshotIds& synced, const SnapshotIds& current) {
    SnapshotDiff d;
    std::set_difference(current.begin(), current.end(), synced.begin(), synced.end(),
                        std::back_inserter(d.appeared));
    std::set_difference(synced.begin(), synced.end(), current.begin(), current.end(),
                        std::back_inserter(d.gone));
    return d;
}

std::chrono::milliseconds retry_delay(int failures, std::chrono::milliseconds min,
                                      std::chrono::milliseconds max) {
    std::chrono::milliseconds delay = min;
    for (int i = 1; i < failures && delay < max; ++i) {
        delay *= 2;
    }
    return std::min(delay, max);
}

} // namespace backup::core
