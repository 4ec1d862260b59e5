// restic-replicate: copies a restic repository's new files to other storage, safely.
#include "core/replicate.hpp"
#include "util/cli.hpp"

#include <CLI/CLI.hpp>

namespace {

constexpr const char* k_prog = "restic-replicate";

constexpr const char* k_description =
    "Brings each destination of a restic repository up to date with the whole source: copies\n"
    "the repository files a destination does not have yet, in an order that keeps it a valid\n"
    "repository at every moment, and never deletes or overwrites anything there.\n"
    "\n"
    "  restic-replicate --client HOST [--root DIR] [APPEARED_FILE GONE_FILE]\n"
    "      the repository and destinations of a client, from ROOT/systems/HOST/conf/client.yaml;\n"
    "      ledgers, lock and status in ROOT/systems/HOST/state. This is the sync command\n"
    "      backup-syncd runs (with BACKUP_CLIENT and BACKUP_REPOSITORY set): the two files of\n"
    "      NUL-terminated snapshot ids it passes are logged, never relied on.\n"
    "  restic-replicate [--state-dir DIR] SOURCE_DIR DEST...\n"
    "      a one-off run from a repository directory. A DEST is an absolute path or an rclone\n"
    "      remote NAME:PATH. Without --state-dir every destination is listed (no ledger) and\n"
    "      no status is written.";

constexpr const char* k_footer =
    "Order:\n"
    "  keys/, then config (copied when the destination has none; otherwise compared byte for\n"
    "  byte: a different config is another repository, and the destination is refused before\n"
    "  anything is written there), then data/, then index/, then snapshots/. locks/, temporary\n"
    "  names (*.rest-server-temp, ...) and other non-repository files are never copied. A\n"
    "  phase that fails ends the run to that destination, so index and snapshots never arrive\n"
    "  before their packs. Files that vanish from the source during the run (a prune) are\n"
    "  skipped. Destinations are independent: one failing does not stop the others.\n"
    "\n"
    "Verification:\n"
    "  Every file but config is named by the SHA-256 of its content. A file whose content\n"
    "  does not hash to its name is never sent: it is reported on stderr and the exit status\n"
    "  is at least 1; everything else is still copied. Local destinations hash the bytes they\n"
    "  write; rclone destinations get each file hashed before rclone sends it.\n"
    "\n"
    "Local destinations:\n"
    "  The directory must exist (it is never created: it may be a disk that is not mounted).\n"
    "  Each file goes to NAME.restic-replicate-tmp-XXXXXX in its directory, is fsynced and\n"
    "  renamed to its name without replacing anything; each phase ends with an fsync of the\n"
    "  directories it touched. A killed run leaves no partial file under a real name; the next\n"
    "  run removes its temporary files. Files are made read-only (0400, 0440 when the\n"
    "  source's config is group-readable), directories 0700 (0750), as restic does.\n"
    "\n"
    "rclone destinations:\n"
    "  Per phase, one 'rclone copy --files-from-raw LIST --immutable --checksum --no-traverse\n"
    "  --no-update-modtime SOURCE REMOTE' of the missing files, so requests grow with the new\n"
    "  files, not with the repository. rclone gets this process's environment: credentials\n"
    "  come from rclone's config file (HOME or RCLONE_CONFIG) or RCLONE_CONFIG_<NAME>_*\n"
    "  variables, never from the command line. The config is fetched with 'rclone copyto'\n"
    "  every run to be compared.\n"
    "\n"
    "Ledger:\n"
    "  Per destination, STATE/replicate/NAME.json (JSON, schema 1, written atomically after\n"
    "  each phase's copies succeeded) lists the files the destination holds, so an\n"
    "  incremental run needs no listing of it. A destination is listed instead (and its ledger\n"
    "  rebuilt) on its first run, when the ledger is unreadable or for another target, after\n"
    "  an interrupted run to a local destination, and with --reconcile (for a destination\n"
    "  changed behind restic-replicate's back). A listed file whose size differs from the\n"
    "  source's is reported and never overwritten.\n"
    "\n"
    "Status:\n"
    "  STATE/replicate-status.json (JSON, schema 1, atomic): per destination its state (ok,\n"
    "  incomplete, failed), the error, files and bytes copied per phase, the source files and\n"
    "  snapshots it lacks and the newest missing snapshot, the last attempt and the last\n"
    "  success. Events go to stdout, one line each; errors to stderr as\n"
    "  'restic-replicate: error: unable to ...'.\n"
    "\n"
    "What the exit codes mean here:\n"
    "  0    every destination holds every file of the source\n"
    "  1    some destinations failed and others succeeded, or source files were not sent\n"
    "       (corrupt or unreadable), or a destination holds a file that differs\n"
    "  100  bad arguments or configuration, the source is not a repository, or every\n"
    "       destination failed for a permanent reason (a different config, an unknown rclone\n"
    "       remote, rclone's exit codes 1, 6, 7)\n"
    "  111  every destination failed and at least one for a temporary reason (a directory\n"
    "       missing, a network error, a lock held), the run's lock is held by another run, or\n"
    "       the status file could not be written";

} // namespace

int main(int argc, char** argv) {
    using namespace backup;
    CLI::App app(k_description, k_prog);
    core::ReplicateCommand command;
    app.add_option("--client", command.client,
                   "the client whose repository to replicate (its client.yaml names the "
                   "repository and destinations)")
        ->option_text("HOST");
    app.add_option("--root", command.root, "the server root (default /backups)")
        ->option_text("DIR")
        ->capture_default_str();
    app.add_option("--state-dir", command.state_dir,
                   "one-off runs: keep ledgers, lock and status in DIR")
        ->option_text("DIR");
    app.add_flag("--reconcile", command.reconcile,
                 "list every destination and repair its ledger before copying");
    app.add_option("ARGS", command.arguments,
                   "with --client: backup-syncd's APPEARED_FILE GONE_FILE (optional); "
                   "without: SOURCE_DIR DEST...");
    util::describe_tool(app, k_footer);
    return util::run_tool(k_prog, app, argc, argv,
                          [&] { return core::replicate_command(command, k_prog); });
}
