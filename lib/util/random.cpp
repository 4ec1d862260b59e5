#include "util/random.hpp"

#include <cerrno>
#include <sys/random.h>

namespace backup::util {

Expected<std::string> random_bytes(std::size_t count) {
    std::string out(count, '\0');
    std::size_t done = 0;
    while (done < count) {
        ssize_t n = ::getrandom(out.data() + done, count - done, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, "read random bytes");
        }
        done += static_cast<std::size_t>(n);
    }
    return out;
}

Expected<std::string> random_token(std::size_t length, std::string_view alphabet) {
    if (alphabet.size() < 2 || alphabet.size() > 256) {
        return fail(ExitCode::permanent, "make a random token: alphabet of {} characters",
                    alphabet.size());
    }
    // Reject bytes at or above the largest multiple of the alphabet size, so every character
    // is equally likely.
    const unsigned limit = 256 - (256 % static_cast<unsigned>(alphabet.size()));
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        std::string bytes = TRY(random_bytes(length - out.size() + 16));
        for (unsigned char b : bytes) {
            if (b < limit && out.size() < length) {
                out.push_back(alphabet[b % alphabet.size()]);
            }
        }
    }
    return out;
}

} // namespace backup::util
