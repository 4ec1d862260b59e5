// Whether a client's service user can reach what its services will use, checked before
// provisioning writes anything: a program under /root that the user cannot execute would
// otherwise make the service crash-loop once a second ("chpst: fatal: unable to run").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

namespace fs = std::filesystem;

struct Reach {
    enum class Need { execute, search, read_write };
    fs::path path;
    Need need = Need::execute;
    std::string what; // "versitygw", "destination disk2", ...
};

// The first reach (in order) the owner lacks, as the owner would see it under runit's
// `chpst -u user:group` (that uid, that gid, no other group), with the component of the path
// that blocks it; nullopt when every one is met. Tested in a child that takes the owner's ids;
// when this process cannot take them (not root) and is not the owner, nothing is checked.
struct Unreachable {
    Reach reach;
    int error = 0;    // errno of access(2)
    fs::path blocker; // the first component the owner cannot search, or the path itself
};
util::Expected<std::optional<Unreachable>> first_unreachable(const Owner& owner,
                                                             const std::vector<Reach>& reaches);

// first_unreachable as an error (100) that says what to do; used by provisioning.
util::Expected<void> check_reach(const Owner& owner, const std::vector<Reach>& reaches);

} // namespace backup::core
