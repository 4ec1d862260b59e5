// Where restic-wrapper's `check --read-data-subset n/t` rotation stands, between daily runs.
//
// File: <state>/check.json, JSON: {"schema": 1, "read_data_subsets": t, "next": n}
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_wrapper_check_schema = 1;
inline constexpr std::string_view k_wrapper_check_file = "check.json";
// restic's own limit for `check --read-data-subset n/t`.
inline constexpr int k_max_check_subsets = 256;

// The subset n the next check reads, 1..subsets.
struct CheckRotation {
    int subsets = 1;
    int next = 1;
    bool operator==(const CheckRotation&) const = default;
};

// The rotation to use with subsets t: the saved one when it is for the same t, else a new cycle
// starting at 1.
CheckRotation current_check_rotation(const std::optional<CheckRotation>& saved, int subsets);
// After a check of rotation.next succeeded: the following subset, 1 after t.
CheckRotation advance_check_rotation(CheckRotation rotation);

// Reading: nullopt when absent; an error (100) when malformed or of another schema.
util::Expected<std::optional<CheckRotation>> read_check_rotation(const std::string& path);
util::Expected<void> write_check_rotation(const std::string& path, const CheckRotation& rotation);

} // namespace backup::core
