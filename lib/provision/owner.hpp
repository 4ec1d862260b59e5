// The user and group a client's services run as, and the files provisioning makes for them.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

struct Owner {
    std::string user;
    std::string group;
    uid_t uid = 0;
    gid_t gid = 0;
};

// The user and group by name; either missing is an error (100) that says what to do.
util::Expected<Owner> resolve_owner(const std::string& user, const std::string& group);
// The owner of path, by number (a shared instance's files say who runs it).
util::Expected<Owner> owner_of(const fs::path& path, std::string_view what);

// mkdir with exactly mode (not reduced by the umask), then chown to owner when given.
util::Expected<void> make_dir(const fs::path& path, unsigned mode, const Owner* owner = nullptr);
// util::atomic_write, then chown to owner when given.
util::Expected<void> write_file(const fs::path& path, std::string_view text, unsigned mode,
                                const Owner* owner = nullptr);

} // namespace backup::core
