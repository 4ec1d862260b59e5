#include "status/capacity.hpp"

#include <algorithm>
#include <cmath>

#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

void apply_capacity(ServerStatus& status, CapacityHistory& history,
                    std::chrono::seconds fill_warning) {
    std::int64_t today = status.now / 86400;
    // Rows that are gone take their samples with them.
    std::erase_if(history.clients, [&](const auto& entry) {
        return std::none_of(status.clients.begin(), status.clients.end(),
                            [&](const ClientInfo& c) { return c.host == entry.first; });
    });
    std::erase_if(history.filesystems, [&](const auto& entry) {
        return std::none_of(status.filesystems.begin(), status.filesystems.end(),
                            [&](const FilesystemInfo& f) { return f.path == entry.first; });
    });
    for (auto& c : status.clients) {
        if (c.state == ClientState::error || !c.remote_repository.empty()) {
            continue; // a remote primary's size is not measured here
        }
        CapacitySeries& series = history.clients[c.host];
        add_sample(series, today, c.repository_bytes);
        c.growth_bytes_per_day = growth_per_day(series, today);
    }
    for (auto& f : status.filesystems) {
        if (f.size_bytes == 0) {
            continue; // its figures could not be read
        }
        CapacitySeries& series = history.filesystems[f.path];
        add_sample(series, today, f.used_bytes);
        f.growth_bytes_per_day = growth_per_day(series, today);
        if (f.free_bytes == 0) {
            f.problems.push_back(
                {ProblemKind::disk_filling, f.path, fmt::format("{} is full", f.path)});
            continue;
        }
        if (!f.growth_bytes_per_day || *f.growth_bytes_per_day <= 0) {
            continue;
        }
        double days = static_cast<double>(f.free_bytes) / *f.growth_bytes_per_day;
        f.full_by = status.now + static_cast<std::int64_t>(std::min(days, 1e6) * 86400);
        if (days * 86400 < static_cast<double>(fill_warning.count())) {
            f.problems.push_back(
                {ProblemKind::disk_filling, f.path,
                 fmt::format("{} fills in about {} at {}/day ({} free): full by {}", f.path,
                             util::format_duration(
                                 std::chrono::seconds(static_cast<std::int64_t>(days * 86400))),
                             util::format_size(
                                 static_cast<std::uint64_t>(std::llround(*f.growth_bytes_per_day))),
                             util::format_size(f.free_bytes), util::format_time(*f.full_by))});
        }
    }
}

} // namespace backup::core
