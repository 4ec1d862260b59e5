// restic-replicate: copies a restic repository's new files to other storage, safely.
#include "replicate/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::ReplicateCommand c;
    util::Tool tool("restic-replicate");
    CLI::App& app = tool.app();
    app.add_option("--client", c.client, "replicate this client (its client.yaml)")
        ->option_text("HOST");
    app.add_option("--root", c.root, "the server root (default /backups)")->option_text("DIR");
    app.add_option("--state-dir", c.state_dir, "one-off runs: ledgers, lock and status in DIR")
        ->option_text("DIR");
    app.add_flag("--reconcile", c.reconcile,
                 "list every destination and the whole source, repair the ledgers");
    app.add_option("--keep-deleted", c.keep_deleted, "one-off runs: forever, or a duration (4d)")
        ->option_text("D");
    app.add_option("--confirm-deletions", c.confirm_deletions, "run DEST's held deletions")
        ->allow_extra_args(false)
        ->option_text("DEST");
    app.add_option("--hold-deletions", c.hold_deletions, "freeze DEST's deletions, then exit")
        ->option_text("DEST");
    app.add_option("--release-deletions", c.release_deletions, "unfreeze DEST's deletions")
        ->option_text("DEST");
    app.add_option("--now", c.now, "use this time (unix seconds; for tests)")->group("");
    app.add_option("ARGS", c.arguments, "APPEARED_FILE GONE_FILE, or SOURCE_DIR DEST...");
    return tool.run(argc, argv, [&] { return core::replicate_command(c); });
}
