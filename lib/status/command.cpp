#include "status/command.hpp"

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "model/config.hpp"
#include "status/capacity.hpp"
#include "status/html.hpp"
#include "status/notify.hpp"
#include "status/render.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace backup::core {

namespace {

// Today's samples into ROOT/status/capacity.json, and the growth they tell. A caller who may
// not write there (a monitoring user) reads what root's runs recorded. Returns the history.
CapacityHistory update_capacity(ServerStatus& status, const StatusSettings& settings) {
    auto history = read_capacity_history(status.root);
    if (!history) {
        status.problems.push_back({ProblemKind::state_file, "capacity", history.error().message()});
        history = CapacityHistory{};
    }
    CapacityHistory recorded = *history;
    apply_capacity(status, *history, settings.fill_warning);
    auto written = write_capacity_history(status.root, *history);
    if (written) {
        status.capacity_recorded = true;
        return *history;
    }
    int err = written.error().errno_code();
    if (err != EACCES && err != EPERM && err != EROFS) {
        status.problems.push_back({ProblemKind::state_file, "capacity", written.error().message()});
    }
    return *history;
}

} // namespace

util::ExitCode backup_status_command(const StatusArguments& a) {
    ServerConfig server =
        util::value_or_throw(load_server_config(a.config_path, a.config_explicit));
    if (a.notify && server.status.notify.empty()) {
        throw util::Fatal(util::Error(
            util::ExitCode::permanent,
            fmt::format("unable to notify: {} names no target (status.notify)", a.config_path)));
    }
    fs::path root = a.root.empty() ? server.root : fs::path(a.root);
    auto status = util::value_or_throw(collect_status(root, a.now != 0 ? a.now : util::unix_now()));
    CapacityHistory history = update_capacity(status, server.status);
    if (a.notify) {
        notify_targets(status, server.status);
    } else if (!server.status.notify.empty()) {
        add_notify_failures(status, server.status);
    }
    if (a.json) {
        write_status_json(status, stdout);
    } else if (!a.notify) {
        bool color = ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
        std::fputs(render_status_table(status, color).c_str(), stdout);
    }
    if (!a.prometheus.empty()) {
        util::value_or_throw(util::atomic_write(a.prometheus, render_prometheus(status), 0644));
    }
    if (!a.html.empty()) {
        util::value_or_throw(
            util::atomic_write(a.html, render_status_html(status, &history), 0644));
    }
    return status.healthy() ? util::ExitCode::ok : util::ExitCode::findings;
}

void add_backup_status_options(CLI::App& app, StatusArguments& arguments) {
    app.add_option("-c,--config", arguments.config_path,
                   "the server config (default /etc/restic-backup/server.yaml)")
        ->option_text("FILE");
    app.add_option("--root", arguments.root,
                   "the server root (default: the config's, else /backups)")
        ->option_text("DIR");
    app.add_flag("--json", arguments.json, "print JSON instead of the table");
    app.add_option("--prometheus", arguments.prometheus, "also write a node_exporter textfile here")
        ->option_text("FILE");
    app.add_option("--html", arguments.html, "also write the status page here")
        ->option_text("FILE");
    app.add_flag("--notify", arguments.notify,
                 "announce what changed to the server config's status.notify targets; no table");
    app.add_option("--now", arguments.now, "evaluate as of this unix time (for tests)")->group("");
}

} // namespace backup::core
