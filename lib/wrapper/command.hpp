// restic-wrapper, the client side: `restic-wrapper ARGS...` runs restic with the repository and
// credentials of /etc/restic/environ (parsed, never run by a shell); `restic-wrapper --daily`
// runs the daily job (see daily_job.hpp).
//
// Command line. The wrapper's own options come first and are only these: --daily, --help/-h,
// --version, and options starting with --wrapper- (each takes a value, `--wrapper-x VALUE` or
// `--wrapper-x=VALUE`). restic has no option or command of these names, so they cannot collide.
// The first other argument, and everything after it, goes to restic unchanged; a `--` there ends
// the wrapper's options and is not passed on.
#pragma once

#include "util/error.hpp"
#include "wrapper/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

struct SplitArguments {
    std::vector<std::string> wrapper; // the wrapper's own options, for its CLI parser
    std::vector<std::string> restic;  // restic's arguments, unchanged
};

// Splits the arguments (without the program name) as described above.
SplitArguments split_wrapper_arguments(const std::vector<std::string>& args);

struct WrapperOptions {
    bool daily = false;
    std::string environ_file = std::string(k_default_environ_file);
    std::string config_file = std::string(k_default_wrapper_config);
    std::string state_dir; // empty: the configuration's state_dir
    std::vector<std::string> restic_args;
};

// Declares restic-wrapper's options on app, each stored in arguments.
void add_restic_wrapper_options(CLI::App& app, WrapperOptions& arguments);

// restic-wrapper. With daily, runs the daily job and returns its exit code (restic_args must be
// empty: 100). Otherwise loads the environ file and replaces this process with restic (execve),
// so restic's exit status, standard streams, terminal and signals are its own; returns only by
// throwing util::Fatal (the environ file refused: 100; restic could not be started: 111).
util::ExitCode wrapper_command(const WrapperOptions& options);

} // namespace backup::core
