#include "syncd/command.hpp"

#include <sstream>
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

// Where to watch and where to keep state: from the client's configuration, or as given.
void locate(const SyncdArguments& a, SyncdOptions& options, std::vector<std::string>& problems) {
    if (!a.client.empty()) {
        if (auto ok = validate_host_name(a.client); !ok) {
            problems.push_back(ok.error().message());
            return;
        }
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
          Range{"--term-grace", a.term_grace, 0, 3600}}) {
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
    options.loop_delay = to_ms(a.loop_delay);
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
