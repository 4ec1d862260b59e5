// Small helpers the unit tests share: fixed times (so that what they assert does not depend on
// today), a repository file id, an error's whole text, a temporary directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace backup::test {

inline constexpr std::int64_t k_day = 86400;
inline constexpr std::int64_t k_now = 1'800'000'000; // 2027-01-15T08:00:00Z

// A valid repository file id (64 hex digits) under data/ab/.
inline const std::string k_id = "ab" + std::string(62, '0');

// The error's message and every line of more(), one per line.
std::string all_messages(const util::Error& e);

// A new directory in $TMPDIR named "<name>-XXXXXX", removed with the object; fails the test
// when it cannot be made.
util::TempDir temp_dir(std::string_view name);

} // namespace backup::test
