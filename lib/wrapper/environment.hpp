// The environment restic runs with on a client: this process's, with the variables of the
// environ file (/etc/restic/environ) on top. The file is parsed (model/environ.hpp), never run by
// a shell, and it and the password file it names must be private.
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/process.hpp"

namespace backup::core {

struct ClientEnvironment {
    util::Environment env; // base with the environ file's variables on top
    std::string restic;    // the restic executable: REAL_RESTIC, else restic found in env's PATH
};

// Loads the environ file onto base. Refused (100), each with how to fix it: a missing file; an
// environ file or RESTIC_PASSWORD_FILE that is not a regular file, is accessible by group or
// others, or is owned by neither the user running this nor root; anything a shell would expand
// or execute, or any syntax error, naming every bad line (core::parse_environ); a CA file that
// RESTIC_CACERT names and that cannot be read; no restic found.
util::Expected<ClientEnvironment> load_client_environment(const std::string& environ_file,
                                                          const util::Environment& base);

// A repository location without credentials: "rest:https://user:secret@host/x" becomes
// "rest:https://host/x".
std::string redact_repository(std::string_view location);

} // namespace backup::core
