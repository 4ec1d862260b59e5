#include "syncd/command.hpp"

#include <CLI/CLI.hpp>

#include <sstream>
#include <tuple>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "syncd/daemon.hpp"

namespace backup::core {

using std::chrono::milliseconds;
using util::ExitCode;

namespace {

struct Range {
    const char* option;
    double value;
    double min;
    double max;
};

milliseconds to_ms(double seconds) {
    return milliseconds(static_cast<long long>(seconds * 1000));
}

// Listing mode: the remote and its rclone config as given, state in the client's state/ or
// --state-dir. client.yaml is not read: the run script names the remote.
void locate_remote(const SyncdArguments& a, SyncdOptions& options,
                   std::vector<std::string>& problems) {
    if (!a.watch_dir.empty()) {
        problems.push_back("unable to use --remote: --watchdir is the other mode, give one");
    }
    auto colon = a.remote.find(':');
    if (colon == std::string::npos || colon == 0 || a.remote.starts_with("-")) {
        problems.push_back(fmt::format(
            "unable to use --remote {}: expected an rclone remote NAME:PATH", a.remote));
    }
    options.remote = a.remote;
    if (!a.event_listen.empty()) {
        if (auto address = parse_event_address(a.event_listen); address) {
            options.event_listen = *address;
        } else {
            problems.push_back(address.error().message());
        }
    }
    if (!a.rclone_config.empty()) {
        std::error_code ec;
        if (!fs::is_regular_file(a.rclone_config, ec)) {
            problems.push_back(
                fmt::format("unable to use --rclone-config {}: not a file", a.rclone_config));
        }
        options.rclone_config = fs::absolute(a.rclone_config, ec).string();
    }
    if (!a.state_dir.empty()) {
        options.state_dir = a.state_dir;
    } else if (!a.client.empty()) {
        options.state_dir = ServerLayout(a.root).client(a.client).state;
    } else {
        problems.push_back("unable to use --remote: give --client HOST or --state-dir DIR");
    }
}

// Where to watch and where to keep state: from the client's configuration, or as given.
void locate(const SyncdArguments& a, SyncdOptions& options, std::vector<std::string>& problems) {
    if (!a.client.empty()) {
        if (auto ok = validate_host_name(a.client); !ok) {
            problems.push_back(ok.error().message());
            return;
        }
    }
    if (!a.remote.empty()) {
        return locate_remote(a, options, problems);
    }
    if (!a.rclone_config.empty() || a.poll_interval || !a.event_listen.empty()) {
        problems.push_back("unable to use --rclone-config, --poll-interval or --event-listen: "
                           "they go with --remote (a local directory is watched by inotify and "
                           "listed every --loopdelay)");
    }
    if (!a.watch_dir.empty()) {
        options.watch_dir = a.watch_dir;
        options.state_dir = a.state_dir;
        if (a.state_dir.empty()) {
            problems.push_back("unable to use --watchdir: give --state-dir too");
        }
        return;
    }
    if (a.client.empty()) {
        problems.push_back("unable to parse arguments: give --client HOST (or --watchdir DIR "
                           "with --state-dir DIR)");
        return;
    }
    ClientPaths paths = ServerLayout(a.root).client(a.client);
    auto config = load_client_config(paths.config_file.string());
    if (!config) {
        problems.push_back(config.error().message());
        for (const auto& more : config.error().more()) {
            problems.push_back(more);
        }
        return;
    }
    options.watch_dir = config->repository / "snapshots";
    options.state_dir = a.state_dir.empty() ? paths.state : fs::path(a.state_dir);
}

} // namespace

void add_backup_syncd_options(CLI::App& app, SyncdArguments& a) {
    app.add_option("--client", a.client, "the client whose repository to watch")
        ->option_text("HOST");
    app.add_option("--root", a.root, "the server root (default /backups)")->option_text("DIR");
    app.add_option("--watchdir", a.watch_dir, "watch this snapshots/ directory")
        ->option_text("DIR");
    app.add_option("--remote", a.remote, "list REMOTE/snapshots (an rclone remote) instead")
        ->option_text("NAME:PATH");
    app.add_option("--rclone-config", a.rclone_config, "rclone's config file for --remote")
        ->option_text("FILE");
    app.add_option("--state-dir", a.state_dir, "state and status files")->option_text("DIR");
    app.add_option("--script", a.script, "the sync command")->required()->option_text("COMMAND");
    app.add_option("--poll-interval", a.poll_interval,
                   "with --remote: seconds between listings (default 60, at least 1)")
        ->option_text("SECONDS");
    app.add_option("--event-listen", a.event_listen,
                   "with --remote: take the store's bucket events here (loopback only)")
        ->option_text("HOST:PORT");
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
}

util::ExitCode backup_syncd_command(const SyncdArguments& a) {
    std::vector<std::string> problems;
    SyncdOptions options;
    std::istringstream words(a.script);
    for (std::string word; words >> word;) {
        options.command.push_back(word);
    }
    if (options.command.empty()) {
        problems.push_back("unable to start: no sync command (--script)");
    }
    for (const Range& r :
         {Range{"--loopdelay", a.loop_delay, 0.1, 86400},
          Range{"--startupdelay", a.startup_delay, 0, 86400}, Range{"--settle", a.settle, 0, 3600},
          Range{"--retry-min", a.retry_min, 0.01, 86400},
          Range{"--retry-max", a.retry_max, 0.01, 86400},
          Range{"--timeout", a.timeout, 0.1, 7 * 86400},
          Range{"--term-grace", a.term_grace, 0, 3600},
          Range{"--poll-interval", a.poll_interval.value_or(60), 1, 86400}}) {
        if (!(r.value >= r.min && r.value <= r.max)) {
            problems.push_back(fmt::format("unable to use {} {}: expected {:g} to {:g} seconds",
                                           r.option, r.value, r.min, r.max));
        }
    }
    locate(a, options, problems);
    if (!problems.empty()) {
        throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    options.client = a.client.empty() ? std::string("backup-syncd") : a.client;
    options.loop_delay = to_ms(a.remote.empty() ? a.loop_delay : a.poll_interval.value_or(60));
    options.startup_delay = to_ms(a.startup_delay);
    options.settle = to_ms(a.settle);
    options.retry_min = to_ms(a.retry_min);
    options.retry_max = to_ms(std::max(a.retry_min, a.retry_max));
    options.timeout = to_ms(a.timeout);
    options.term_grace = to_ms(a.term_grace);
    util::value_or_throw(run_sync_daemon(options));
    return ExitCode::ok;
}

} // namespace backup::core
