#include "replicate/retention.hpp"

#include "util/text.hpp"

#include <algorithm>

namespace backup::core {

bool note_source_deletions(
    ReplicaLedger& ledger,
    const std::array<std::vector<std::string>, k_replicate_phase_count>& present,
    const std::optional<std::chrono::seconds>& keep, std::int64_t now) {
    bool changed = false;
    for (auto phase : k_replicate_phases) {
        if (!is_deletable_phase(phase)) {
            continue;
        }
        const auto& ids = present[phase_index(phase)];
        for (auto& [id, file] : ledger.copied[phase_index(phase)]) {
            bool there = std::binary_search(ids.begin(), ids.end(), id);
            if (there || !keep) {
                changed = changed || file.gone_since.has_value();
                file.gone_since.reset();
            } else if (!file.gone_since) {
                file.gone_since = now;
                changed = true;
            }
        }
    }
    return changed;
}

namespace {

// Why the due deletions exceed the destination's limits, or nullopt.
std::optional<std::string> over_limits(const DeletionPlan& plan, const ReplicaLedger& ledger,
                                       const Destination& destination) {
    std::size_t snapshots = ledger.ids[phase_index(ReplicatePhase::snapshots)].size();
    // More than the share: due * 100 > percent * held, in integers.
    if (plan.due_snapshots > 0 &&
        plan.due_snapshots * 100 >
            static_cast<std::size_t>(destination.hold_above_percent) * snapshots) {
        return fmt::format("it would delete {} of its {} snapshots, more than {}%",
                           plan.due_snapshots, snapshots, destination.hold_above_percent);
    }
    if (destination.hold_above_bytes && plan.due_bytes > *destination.hold_above_bytes) {
        return fmt::format("it would delete {}, more than {}", util::format_size(plan.due_bytes),
                           util::format_size(*destination.hold_above_bytes));
    }
    return std::nullopt;
}

} // namespace

DeletionPlan plan_deletions(const ReplicaLedger& ledger, const Destination& destination,
                            std::int64_t now, const DeletionGate& gate) {
    DeletionPlan plan;
    if (!destination.keep_deleted) {
        return plan; // forever: nothing is ever due (and note_source_deletions keeps none pending)
    }
    std::int64_t keep = destination.keep_deleted->count();
    for (auto phase : k_replicate_phases) {
        if (!is_deletable_phase(phase)) {
            continue;
        }
        for (const auto& [id, file] : ledger.copied[phase_index(phase)]) {
            if (!file.gone_since) {
                continue;
            }
            ++plan.pending_files;
            plan.pending_bytes += file.size;
            std::int64_t due = *file.gone_since + keep;
            plan.next_due = std::min(plan.next_due.value_or(due), due);
            if (due <= now) {
                plan.due[phase_index(phase)].push_back(id);
                ++plan.due_files;
                plan.due_bytes += file.size;
                plan.due_snapshots += phase == ReplicatePhase::snapshots ? 1 : 0;
            }
        }
    }
    if (plan.due_files == 0) {
        return plan;
    }
    if (gate.frozen) {
        plan.held_because = "its deletions are frozen (restic-replicate --hold-deletions)";
    } else if (!gate.confirmed) {
        plan.held_because = over_limits(plan, ledger, destination);
    }
    return plan;
}

} // namespace backup::core
