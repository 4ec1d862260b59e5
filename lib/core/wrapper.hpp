// restic-wrapper, the client side: `restic-wrapper ARGS...` runs restic with the repository and
// credentials of /etc/restic/environ (parsed, never run by a shell); `restic-wrapper --daily`
// runs the daily job (see wrapper_daily.hpp).
//
// Command line. The wrapper's own options come first and are only these: --daily, --help/-h,
// --version, and options starting with --wrapper- (each takes a value, `--wrapper-x VALUE` or
// `--wrapper-x=VALUE`). restic has no option or command of these names, so they cannot collide.
// The first other argument, and everything after it, goes to restic unchanged; a `--` there ends
// the wrapper's options and is not passed on.
#pragma once

#include "core/wrapper_config.hpp"
#include "util/error.hpp"
#include "util/spawn.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

struct SplitArguments {
    std::vector<std::string> wrapper; // the wrapper's own options, for its CLI parser
    std::vector<std::string> restic;  // restic's arguments, unchanged
};

// Splits the arguments (without the program name) as described above.
SplitArguments split_wrapper_arguments(const std::vector<std::string>& args);

// The environment restic runs with.
struct ClientEnvironment {
    util::Environment env; // base with the environ file's variables on top
    std::string restic;    // the restic executable: REAL_RESTIC, else restic found in env's PATH
};

// Loads the environ file onto base. Refused (100), each with how to fix it: a missing file; an
// environ file or RESTIC_PASSWORD_FILE that is not a regular file, is accessible by group or
// others, or is owned by neither the user running this nor root; anything a shell would expand
// or execute, or any syntax error, naming every bad line (core::parse_environ); no restic found.
util::Expected<ClientEnvironment> load_client_environment(const std::string& environ_file,
                                                          const util::Environment& base);

struct WrapperOptions {
    bool daily = false;
    std::string environ_file = std::string(k_default_environ_file);
    std::string config_file = std::string(k_default_wrapper_config);
    std::string state_dir; // empty: the configuration's state_dir
    std::vector<std::string> restic_args;
};

// restic-wrapper. With daily, runs the daily job and returns its exit code (restic_args must be
// empty: 100). Otherwise loads the environ file and replaces this process with restic (execve),
// so restic's exit status, standard streams, terminal and signals are its own; returns only by
// throwing util::Fatal (the environ file refused: 100; restic could not be started: 111).
util::ExitCode wrapper_command(const WrapperOptions& options, std::string_view prog);

} // namespace backup::core
