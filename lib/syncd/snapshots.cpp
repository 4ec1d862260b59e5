#include "syncd/snapshots.hpp"

#include <algorithm>
#include <iterator>

namespace backup::core {

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
