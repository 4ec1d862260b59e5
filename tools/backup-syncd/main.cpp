// backup-syncd: one per client under runsv; runs the sync command when snapshots change.
#include <cstdlib>
#include <sstream>

#include "core/layout.hpp"
#include "core/syncd.hpp"
#include "util/cli.hpp"

using namespace backup;
using std::chrono::milliseconds;

int main(int argc, char** argv) {
    CLI::App app{
        "Watch a restic repository's snapshots/ directory (inotify, with a periodic full listing "
        "as a safety net) and run the sync command when snapshots appear or go. The command gets "
        "two more arguments: files listing the snapshot IDs that appeared and that went, each ID "
        "followed by a NUL byte; and the environment variables BACKUP_CLIENT, BACKUP_REPOSITORY "
        "and BACKUP_WATCHDIR. One run at a time; a non-zero exit or a timeout means 'not done': "
        "the run is retried with exponential backoff, merged with whatever changed meanwhile. The "
        "snapshots handed to a successful run are kept in STATE_DIR/backup-syncd.json, so "
        "snapshots made while it was down are synced after a restart and nothing twice. A missing "
        "or unreadable directory is logged and retried, never read as 'every snapshot went'. "
        "Stays in the foreground and logs one line per event on stdout (for svlogd); on TERM it "
        "stops a running sync's process group (TERM, then KILL) and exits 0.",
        "backup-syncd"};
    core::SyncdOptions options;
    std::string script, watchdir, state_dir, client;
    double loopdelay = 60, startupdelay = 0, settle = 0.3, retry_min = 5, retry_max = 600,
           timeout = 6 * 3600, grace = 10;
    app.add_option("--watchdir", watchdir, "the repository's snapshots/ directory")->required();
    app.add_option("--script", script,
                   "the sync command, split into words at spaces (no shell), e.g. "
                   "'restic-replicate --client web1'")
        ->required();
    app.add_option("--state-dir", state_dir, "directory for state and status files")->required();
    app.add_option("--client", client, "client name, for logs and BACKUP_CLIENT");
    app.add_option("--loopdelay", loopdelay, "seconds between full listings (safety net)")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--startupdelay", startupdelay, "seconds to wait before the first listing")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--settle", settle, "seconds of quiet after a change before a run")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3600.0));
    app.add_option("--retry-min", retry_min, "first retry delay in seconds (doubles each time)")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 86400.0));
    app.add_option("--retry-max", retry_max, "longest retry delay in seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 86400.0));
    app.add_option("--timeout", timeout, "seconds a sync may run before it is stopped")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 7 * 86400.0));
    app.add_option("--term-grace", grace, "seconds between TERM and KILL when stopping a sync")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3600.0));
    util::describe_tool(app);

    return util::run_tool("backup-syncd", app, argc, argv, [&] {
        auto ms = [](double seconds) { return milliseconds(static_cast<long long>(seconds * 1000)); };
        std::istringstream words(script);
        for (std::string word; words >> word;) {
            options.command.push_back(word);
        }
        options.watch_dir = watchdir;
        options.state_dir = state_dir;
        options.client = client.empty() ? std::string("backup-syncd") : client;
        if (!client.empty()) {
            util::value_or_throw(core::validate_host_name(client));
        }
        options.loop_delay = ms(loopdelay);
        options.startup_delay = ms(startupdelay);
        options.settle = ms(settle);
        options.retry_min = ms(retry_min);
        options.retry_max = ms(std::max(retry_min, retry_max));
        options.timeout = ms(timeout);
        options.term_grace = ms(grace);
        util::value_or_throw(core::run_sync_daemon(options));
        return util::ExitCode::ok;
    });
}
