#include "util/bcrypt.hpp"

#include <cerrno>
#include <crypt.h>
#include <cstring>
#include <memory>

#include "util/random.hpp"

namespace backup::util {

Expected<std::string> bcrypt_hash(std::string_view password, unsigned cost) {
    if (password.find('\0') != std::string_view::npos) {
        return fail(ExitCode::permanent, "hash a password: it contains a NUL byte");
    }
    std::string salt_bytes = TRY(random_bytes(16));
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$2b$", cost, salt_bytes.data(), static_cast<int>(salt_bytes.size()),
                         setting, sizeof setting) == nullptr) {
        return fail_errno(errno, "make a bcrypt salt");
    }
    auto data = std::make_unique<crypt_data>();
    std::string pw(password);
    const char* hash = crypt_r(pw.c_str(), setting, data.get());
    if (hash == nullptr || hash[0] == '*') {
        return fail_errno(errno != 0 ? errno : EINVAL, "compute a bcrypt hash");
    }
    return std::string(hash);
}

} // namespace backup::util
