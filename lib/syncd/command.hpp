// backup-syncd as a command: its arguments, checked, and the daemon started.
#pragma once

#include <optional>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

// The command line as given; backup_syncd_command checks the values.
struct SyncdArguments {
    std::string client;                  // --client HOST: the repository and state from its
                                         // client.yaml
    std::string root{k_default_root};    // --root
    std::string watch_dir;               // --watchdir: a snapshots/ directory instead
    std::string state_dir;               // --state-dir (required with --watchdir, and with
                                         // --remote without --client)
    std::string remote;                  // --remote NAME:PATH: listing mode, no local directory
    std::string rclone_config;           // --rclone-config: rclone's RCLONE_CONFIG
    std::optional<double> poll_interval; // --poll-interval (listing mode; default 60)
    std::string event_listen;            // --event-listen HOST:PORT (listing mode, loopback)
    std::string script;                  // --script: split into words at spaces, no shell
    double loop_delay = 60;              // seconds, each of these
    double startup_delay = 0;
    double settle = 0.3;
    double retry_min = 5;
    double retry_max = 600;
    double timeout = 6 * 3600;
    double term_grace = 10;
};

// Declares backup-syncd's options on app, each stored in arguments.
void add_backup_syncd_options(CLI::App& app, SyncdArguments& arguments);

// Checks every value (all bad ones reported together, 100), finds the repository (with --client:
// <repository>/snapshots from client.yaml, the one place that says where it is; with --remote:
// REMOTE/snapshots, state in the client's state/ or --state-dir) and runs the
// daemon until TERM (0). Throws util::Fatal for bad arguments (100) and for a daemon that cannot
// start (an unreadable state file, a missing state directory).
util::ExitCode backup_syncd_command(const SyncdArguments& arguments);

} // namespace backup::core
