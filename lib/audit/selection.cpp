#include "audit/selection.hpp"

#include <algorithm>
#include <charconv>

namespace backup::core {

int audit_slot(std::string_view id, int cycle_length) {
    std::uint64_t value = 0;
    std::string_view digits = id.substr(0, std::min<std::size_t>(id.size(), 16));
    std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
    return static_cast<int>(value % static_cast<std::uint64_t>(std::max(cycle_length, 1)));
}

int stateless_audit_position(std::int64_t now, int cycle_length) {
    std::int64_t day = now / 86400;
    return static_cast<int>(day % std::max(cycle_length, 1));
}

std::vector<std::size_t> select_for_audit(const std::vector<AuditEntry>& entries, int cycle_length,
                                          int position,
                                          const std::optional<std::string>& resume_after) {
    std::vector<std::size_t> selected;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        if (!e.regular || !is_content_addressed(e.kind) || e.size == 0) {
            continue; // what the listing shows is checked on every run already
        }
        if (resume_after && e.relative <= *resume_after) {
            continue;
        }
        if (cycle_length > 1 && audit_slot(path_file_name(e.relative), cycle_length) != position) {
            continue;
        }
        selected.push_back(i);
    }
    return selected;
}

AuditBudget::AuditBudget(std::optional<std::uint64_t> max_bytes,
                         std::optional<std::chrono::seconds> max_seconds)
    : m_max_bytes(max_bytes) {
    if (max_seconds) {
        m_deadline = std::chrono::steady_clock::now() + *max_seconds;
    }
}

bool AuditBudget::try_start(std::uint64_t size) {
    std::lock_guard lock(m_mutex);
    if (m_started_any) {
        if (m_refused) {
            return false;
        }
        if (m_deadline && std::chrono::steady_clock::now() >= *m_deadline) {
            return false;
        }
        if (m_max_bytes && m_started_bytes + size > *m_max_bytes) {
            // Smaller files further on might fit, but skipping would break the rule that a run
            // does a prefix of the slot, which is what lets the next run resume after one name.
            m_refused = true;
            return false;
        }
    }
    m_started_any = true;
    m_started_bytes += size;
    return true;
}

bool AuditBudget::exhausted() const {
    std::lock_guard lock(m_mutex);
    if (!m_started_any) {
        return false;
    }
    if (m_refused) {
        return true;
    }
    if (m_deadline && std::chrono::steady_clock::now() >= *m_deadline) {
        return true;
    }
    return m_max_bytes && m_started_bytes >= *m_max_bytes;
}

} // namespace backup::core
