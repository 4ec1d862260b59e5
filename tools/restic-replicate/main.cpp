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
    app.add_flag("--reconcile", c.reconcile, "list every destination and repair its ledger");
    app.add_option("ARGS", c.arguments, "APPEARED_FILE GONE_FILE, or SOURCE_DIR DEST...");
    return tool.run(argc, argv, [&] { return core::replicate_command(c); });
}
