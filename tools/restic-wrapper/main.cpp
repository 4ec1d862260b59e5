// restic-wrapper: restic with the client's /etc/restic/environ, and the daily backup job.
#include "core/wrapper.hpp"
#include "util/cli.hpp"

#include <CLI/CLI.hpp>

namespace {

constexpr const char* k_prog = "restic-wrapper";

constexpr const char* k_description =
    "Usage:\n"
    "  restic-wrapper [WRAPPER OPTIONS] [--] RESTIC ARGUMENTS...\n"
    "  restic-wrapper [WRAPPER OPTIONS] --daily\n"
    "\n"
    "The first form runs restic with RESTIC ARGUMENTS unchanged, with the variables of the\n"
    "environ file (default /etc/restic/environ) added to the environment: 'restic-wrapper\n"
    "init', 'restic-wrapper snapshots --host web1'. The program is REAL_RESTIC when the\n"
    "environ file sets it, else restic from PATH. The environ file is parsed, never run by a\n"
    "shell: lines 'export NAME=value' or 'NAME=value', quotes, comments; anything a shell would\n"
    "expand or execute ($VAR, $(...), backquotes, ;, |, ...) is an error naming the line. It\n"
    "and RESTIC_PASSWORD_FILE must be private (no access for group or others) and owned by\n"
    "you or root.\n"
    "\n"
    "The second form runs the daily job, for cron or a systemd timer: excludes from\n"
    "/etc/restic/exclude-files plus /etc/restic/include-files unrolled against the file\n"
    "system (as restic-unroll does), then 'restic backup / --exclude-file ... --tag daily';\n"
    "optionally forget and a rotating 'check --read-data-subset', set in the configuration\n"
    "file (default /etc/restic/restic-wrapper.yaml, optional; see the README). Only one daily\n"
    "job runs at a time (flock on STATE_DIR/lock). Nothing is printed on success; every\n"
    "problem is one line on stderr. STATE_DIR/status.json records each run.\n"
    "\n"
    "The wrapper's own options come before restic's and are only --daily, --help, --version\n"
    "and --wrapper-*: restic has none of these, so 'restic-wrapper help' and 'restic-wrapper\n"
    "backup --help' show restic's help.";

constexpr const char* k_footer =
    "Exit status of pass-through: restic's own (0 ok, 1 fatal error, 3 snapshot made but some\n"
    "files unreadable, 10 no repository, 11 lock failed, 12 wrong password, 130 interrupted),\n"
    "so scripts keep working; 100 or 111 only when the wrapper itself fails before restic runs\n"
    "(100: environ or password file refused, restic not found).\n"
    "\n"
    "Exit status of --daily, restic's codes mapped onto the toolkit's table:\n"
    "  0    snapshot made, forget and check (when configured) succeeded\n"
    "  1    findings: the snapshot lacks unreadable files (restic 3), an include cannot be\n"
    "       backed up, check found damage, or an after/on_failure hook failed\n"
    "  100  permanent: bad configuration or environ file, no repository (restic 10; run\n"
    "       'restic-wrapper init'), wrong password (restic 12), arguments restic rejects\n"
    "  111  temporary: another daily job runs, repository locked (restic 11), interrupted\n"
    "       (restic 130 or a signal), timeout, a before hook failed, any other restic failure\n"
    "       (restic 1: network, server, I/O)";

} // namespace

int main(int argc, char** argv) {
    using namespace backup;
    auto split = core::split_wrapper_arguments(std::vector<std::string>(argv + 1, argv + argc));
    core::WrapperOptions options;
    options.restic_args = split.restic;
    CLI::App app(k_description, k_prog);
    app.add_flag("--daily", options.daily, "run the daily job instead of a restic command");
    app.add_option("--wrapper-environ", options.environ_file,
                   "the environ file (default /etc/restic/environ)")
        ->envname("RESTIC_WRAPPER_ENVIRON")
        ->option_text("FILE");
    app.add_option("--wrapper-config", options.config_file,
                   "the daily job's configuration (default /etc/restic/restic-wrapper.yaml; "
                   "when another file is named, it must exist)")
        ->envname("RESTIC_WRAPPER_CONFIG")
        ->option_text("FILE");
    app.add_option("--wrapper-state-dir", options.state_dir,
                   "the daily job's state dir: lock, status.json, check.json, last-run.log "
                   "(default: the configuration's state_dir, /var/lib/restic-wrapper)")
        ->envname("RESTIC_WRAPPER_STATE_DIR")
        ->option_text("DIR");
    util::describe_tool(app, k_footer);
    std::vector<char*> wrapper_argv{argv[0]};
    for (auto& arg : split.wrapper) {
        wrapper_argv.push_back(arg.data());
    }
    return util::run_tool(k_prog, app, static_cast<int>(wrapper_argv.size()), wrapper_argv.data(),
                          [&] { return core::wrapper_command(options, k_prog); });
}
