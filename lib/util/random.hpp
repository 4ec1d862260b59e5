// Secure random bytes and tokens from getrandom(2), for keys, secrets and passwords.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::util {

inline constexpr std::string_view k_alphanumeric =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
inline constexpr std::string_view k_upper_alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// count bytes from the kernel's CSPRNG (blocks only until it is seeded at boot).
Expected<std::string> random_bytes(std::size_t count);

// A token of length characters drawn uniformly from alphabet (2 to 256 distinct characters),
// without modulo bias.
Expected<std::string> random_token(std::size_t length, std::string_view alphabet = k_alphanumeric);

} // namespace backup::util
