#include "wrapper/command.hpp"

#include <CLI/CLI.hpp>

#include "wrapper/daily_job.hpp"
#include "wrapper/environment.hpp"

namespace backup::core {

SplitArguments split_wrapper_arguments(const std::vector<std::string>& args) {
    SplitArguments out;
    std::size_t i = 0;
    while (i < args.size()) {
        const std::string& a = args[i];
        if (a == "--daily" || a == "--help" || a == "-h" || a == "--version") {
            out.wrapper.push_back(a);
            ++i;
        } else if (a.starts_with("--wrapper-")) {
            out.wrapper.push_back(a);
            ++i;
            if (a.find('=') == std::string::npos && i < args.size()) {
                out.wrapper.push_back(args[i]);
                ++i;
            }
        } else if (a == "--") {
            ++i;
            break;
        } else {
            break;
        }
    }
    out.restic.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    return out;
}

util::ExitCode wrapper_command(const WrapperOptions& options) {
    if (options.daily) {
        if (!options.restic_args.empty()) {
            throw util::Fatal(util::Error(
                util::ExitCode::permanent,
                fmt::format("unable to parse arguments: --daily takes no restic arguments "
                            "(got '{}'); configure the job in {}",
                            options.restic_args.front(), options.config_file)));
        }
        DailyJobOptions daily;
        daily.environ_file = options.environ_file;
        daily.config_file = options.config_file;
        daily.config_required = options.config_file != k_default_wrapper_config;
        daily.state_dir = options.state_dir;
        return run_daily_job(daily);
    }
    auto client = util::value_or_throw(
        load_client_environment(options.environ_file, util::current_environment()));
    // Like the original `exec restic "$@"`: restic keeps this process's standard streams,
    // terminal and signals, and its exit status is the wrapper's.
    std::vector<std::string> argv{client.restic};
    argv.insert(argv.end(), options.restic_args.begin(), options.restic_args.end());
    throw util::Fatal(util::exec(argv, client.env));
}

void add_restic_wrapper_options(CLI::App& app, WrapperOptions& arguments) {
    app.add_flag("--daily", arguments.daily, "run the daily job instead of a restic command");
    app.add_option("--wrapper-environ", arguments.environ_file,
                   "the environ file (/etc/restic/environ)")
        ->envname("RESTIC_WRAPPER_ENVIRON")
        ->option_text("FILE");
    app.add_option("--wrapper-config", arguments.config_file, "the daily job's configuration")
        ->envname("RESTIC_WRAPPER_CONFIG")
        ->option_text("FILE");
    app.add_option("--wrapper-state-dir", arguments.state_dir, "the daily job's state directory")
        ->envname("RESTIC_WRAPPER_STATE_DIR")
        ->option_text("DIR");
}

} // namespace backup::core
