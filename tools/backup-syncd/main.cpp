// backup-syncd: one per client under runsv; runs the sync command when snapshots change.
#include "syncd/command.hpp"
#include "util/cli.hpp"

#include <tuple>

int main(int argc, char** argv) {
    using namespace backup;
    core::SyncdArguments a;
    util::Tool tool("backup-syncd");
    CLI::App& app = tool.app();
    app.add_option("--client", a.client, "the client whose repository to watch")
        ->option_text("HOST");
    app.add_option("--root", a.root, "the server root (default /backups)")->option_text("DIR");
    app.add_option("--watchdir", a.watch_dir, "watch this snapshots/ directory")
        ->option_text("DIR");
    app.add_option("--state-dir", a.state_dir, "state and status files")->option_text("DIR");
    app.add_option("--script", a.script, "the sync command")->required()->option_text("COMMAND");
    for (auto [name, value, help] :
         {std::tuple{"--loopdelay", &a.loop_delay, "seconds between full listings (default 60)"},
          {"--startupdelay", &a.startup_delay, "seconds before the first listing (0)"},
          {"--settle", &a.settle, "seconds of quiet after a deletion before a run (0.3)"},
          {"--retry-min", &a.retry_min, "first retry delay in seconds (5)"},
          {"--retry-max", &a.retry_max, "longest retry delay in seconds (600)"},
          {"--timeout", &a.timeout, "seconds a sync may run before it is stopped (21600)"},
          {"--term-grace", &a.term_grace, "seconds between TERM and KILL (10)"}}) {
        app.add_option(name, *value, help)->option_text("SECONDS");
    }
    return tool.run(argc, argv, [&] { return core::backup_syncd_command(a); });
}
