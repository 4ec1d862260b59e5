// restic-replicate as a command: a client's replication (the sync command backup-syncd runs), or
// a one-off run from a repository directory to destinations given on the command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/config.hpp"
#include "model/defaults.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

// A destination given on the command line: an absolute path (local) or an rclone remote
// "NAME:PATH". Its name, which names its ledger, is made from it: lowercase letters and digits
// of the target, then '-' and 8 hex digits of the target's SHA-256 ("mnt-usb-web1-1a2b3c4d").
// Anything else (a relative path, a connection string) is an error (100).
util::Expected<Destination> parse_destination_argument(std::string_view text);

struct ReplicateCommand {
    std::string client;                             // --client HOST
    std::string root = std::string(k_default_root); // --root
    std::string state_dir;                          // --state-dir (one-off runs)
    bool reconcile = false;                         // --reconcile
    std::string keep_deleted;                       // --keep-deleted (one-off runs)
    std::string now;                                // --now: unix seconds or UTC ISO 8601
    std::vector<std::string> confirm_deletions;     // --confirm-deletions DEST...
    std::string hold_deletions;                     // --hold-deletions DEST: freeze, no run
    std::string release_deletions;                  // --release-deletions DEST: unfreeze
    // With --client: nothing, or backup-syncd's APPEARED_FILE GONE_FILE (logged only).
    // Without: SOURCE_DIR DEST...
    std::vector<std::string> arguments;
};

// Declares restic-replicate's options on app, each stored in arguments.
void add_restic_replicate_options(CLI::App& app, ReplicateCommand& arguments);

// restic-replicate: with --hold-deletions or --release-deletions, freezes or unfreezes one
// destination's deletions (state/replicate_hold.hpp) and returns 0; DEST is a name of
// client.yaml (--client) or a one-off destination argument (with --state-dir). Otherwise it
// builds the job (from <root>/systems/HOST/conf/client.yaml with --client),
// runs it with rclone getting this process's environment, prints each event on stdout (errors
// and warnings as "prog: error: ..." on stderr) and returns ReplicateReport::exit_code().
// Throws util::Fatal for bad arguments or configuration (100) and for a run that could not
// start.
util::ExitCode replicate_command(const ReplicateCommand& command);

} // namespace backup::core
