// backup-status's status page: one self-contained HTML file (inline CSS, inline SVG, no script,
// nothing loaded from anywhere: its Content-Security-Policy forbids it), readable on a phone, in
// a terminal browser and with a screen reader. Every client is a row of a table with headers,
// and its state is always written as a word: colour only repeats it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/capacity_history.hpp"
#include "status/status.hpp"

namespace backup::core {

// The whole page. history (may be null) gives each client's size over the last 30 days.
std::string render_status_html(const ServerStatus& status, const CapacityHistory* history);

// The pieces of the page with logic of their own, for the tests.

inline constexpr int k_strip_days = 30;
// Snapshots per UTC day over the days days up to and including now's, oldest first, from the
// snapshot files' times; times after now count for today, before the first day not at all.
std::vector<int> daily_snapshot_counts(const std::vector<std::int64_t>& times, std::int64_t now,
                                       int days = k_strip_days);
// How much of the repository its audit has hashed: the share of the files hashed within the
// current cycle ("40% of the files hashed this cycle (12 of 30 runs)", or "every file hashed"
// when the last run completed a cycle or an --all pass), then the last full coverage ("last full
// coverage 2024-05-01" or "never fully covered yet").
std::string audit_coverage_text(const AuditInfo& audit);

} // namespace backup::core
