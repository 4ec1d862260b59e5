// The system users new-restic-server creates for dedicated clients, one each, so that one
// client's storage server process cannot touch another client's files (the kernel refuses).
#pragma once

#include <string>

#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

// Creates the system user name with a group of the same name, no home and no login shell
// (useradd --system --user-group --no-create-home --home-dir /nonexistent --shell
// /usr/sbin/nologin), for host (its comment). Refused (100) when a user or a group of that name
// exists already (never taken over: it would be deleted with the client), when this process is
// not root, or when useradd is not installed; 111 when useradd fails otherwise.
util::Expected<Owner> create_system_user(const std::string& name, const std::string& host);

// Deletes the user and its group (userdel, then groupdel if the group is still there). A user
// that is already gone is no error.
util::Expected<void> delete_system_user(const std::string& name);

} // namespace backup::core
