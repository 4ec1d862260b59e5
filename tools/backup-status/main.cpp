// backup-status: the whole backup server at a glance.
#include "status/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::StatusArguments a;
    util::Tool tool("backup-status");
    CLI::App& app = tool.app();
    auto* config = app.add_option("-c,--config", a.config_path,
                                  "the server config (default /etc/restic-backup/server.yaml)")
                       ->option_text("FILE");
    app.add_option("--root", a.root, "the server root (default: the config's, else /backups)")
        ->option_text("DIR");
    app.add_flag("--json", a.json, "print JSON instead of the table");
    app.add_option("--prometheus", a.prometheus, "also write a node_exporter textfile here")
        ->option_text("FILE");
    app.add_option("--html", a.html, "also write the status page here")->option_text("FILE");
    app.add_flag("--notify", a.notify,
                 "announce what changed to the server config's status.notify targets; no table");
    app.add_option("--now", a.now, "evaluate as of this unix time (for tests)")->group("");
    return tool.run(argc, argv, [&] {
        a.config_explicit = config->count() > 0;
        return core::backup_status_command(a);
    });
}
