// bcrypt password hashes (libcrypt), as htpasswd files for rest-server hold them.
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::util {

// A "$2b$" bcrypt hash of password with a fresh random salt.
Expected<std::string> bcrypt_hash(std::string_view password, unsigned cost = 10);

} // namespace backup::util
