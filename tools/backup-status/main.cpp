// backup-status: every client of the backup server at a glance.
#include <cstdio>
#include <ctime>
#include <unistd.h>

#include "core/status.hpp"
#include "util/cli.hpp"
#include "util/fs.hpp"

using namespace backup;

int main(int argc, char** argv) {
    CLI::App app{"Show every client under the server root: enabled or not, each runit service up or "
                 "down and for how long (from supervise/status), the newest snapshot and its age "
                 "(from snapshots/ file times: no password needed), the last sync, each "
                 "replication destination's lag and last success, the last audit and its "
                 "findings, and the disk the repository uses. A client whose newest snapshot is "
                 "older than its expected interval (status.expected_interval_hours in its "
                 "client.yaml, default 26) is stale. Reads only small state files and directory "
                 "listings.",
                 "backup-status"};
    std::string root = "/backups", prometheus;
    bool json = false;
    std::int64_t now = 0;
    app.add_option("--root", root, "server root")->capture_default_str();
    app.add_flag("--json", json, "print JSON instead of the table");
    app.add_option("--prometheus", prometheus,
                   "also write a node_exporter textfile to this path (atomically)");
    app.add_option("--now", now, "evaluate as of this unix time (for tests)");
    util::describe_tool(app, "Exit status 1 means at least one client is stale or failing (a "
                             "service down, a failing sync, destination or audit).");
    return util::run_tool("backup-status", app, argc, argv, [&] {
        auto status = util::value_or_throw(
            core::collect_status(root, now != 0 ? now : static_cast<std::int64_t>(std::time(nullptr))));
        if (json) {
            std::fputs((core::status_to_json(status).dump(2) + "\n").c_str(), stdout);
        } else {
            bool color = ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
            std::fputs(core::render_status_table(status, color).c_str(), stdout);
        }
        if (!prometheus.empty()) {
            util::value_or_throw(
                util::atomic_write(prometheus, core::render_prometheus(status), 0644));
        }
        return status.healthy() ? util::ExitCode::ok : util::ExitCode::findings;
    });
}
