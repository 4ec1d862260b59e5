// backup-status's daily samples of what each repository and filesystem holds: growth per day,
// and when a filesystem fills at that rate. No password needed: file sizes and statvfs.
//
// File: ROOT/status/capacity.json (0644, replaced atomically), JSON, schema 1:
//   {"schema": 1, "clients": {HOST: [[DAY, BYTES], ...]},
//    "filesystems": {MOUNT_POINT: [[DAY, USED_BYTES], ...]}}
// DAY: days since 1970-01-01 (UTC). One sample per day (the last of the day wins), ascending,
// for the last k_capacity_days_kept days.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_capacity_history_schema = 1;
inline constexpr std::int64_t k_capacity_days_kept = 90;

struct CapacitySample {
    std::int64_t day = 0;
    std::uint64_t bytes = 0;
};
using CapacitySeries = std::vector<CapacitySample>;

struct CapacityHistory {
    std::map<std::string, CapacitySeries> clients;
    std::map<std::string, CapacitySeries> filesystems;
};

std::filesystem::path capacity_history_path(const std::filesystem::path& root);
// The history under root; empty when there is none. Unreadable: 111; invalid: 100.
util::Expected<CapacityHistory> read_capacity_history(const std::filesystem::path& root);
// Writes it atomically (making ROOT/status, 0755).
util::Expected<void> write_capacity_history(const std::filesystem::path& root,
                                            const CapacityHistory& history);

// Adds the sample for day to series (replacing that day's), and drops what is older than
// k_capacity_days_kept days before it.
void add_sample(CapacitySeries& series, std::int64_t day, std::uint64_t bytes);
// Bytes per day over the samples of the last `window` days up to day (least squares); nullopt
// with fewer than two days of samples.
std::optional<double> growth_per_day(const CapacitySeries& series, std::int64_t day,
                                     std::int64_t window = 30);

} // namespace backup::core
