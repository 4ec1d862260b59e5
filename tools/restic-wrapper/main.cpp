// restic-wrapper: restic with the client's /etc/restic/environ, and the daily backup job.
#include "util/cli.hpp"
#include "wrapper/command.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    auto split = core::split_wrapper_arguments(std::vector<std::string>(argv + 1, argv + argc));
    core::WrapperOptions o;
    o.restic_args = split.restic;
    util::Tool tool("restic-wrapper");
    CLI::App& app = tool.app();
    app.add_flag("--daily", o.daily, "run the daily job instead of a restic command");
    app.add_option("--wrapper-environ", o.environ_file, "the environ file (/etc/restic/environ)")
        ->envname("RESTIC_WRAPPER_ENVIRON")
        ->option_text("FILE");
    app.add_option("--wrapper-config", o.config_file, "the daily job's configuration")
        ->envname("RESTIC_WRAPPER_CONFIG")
        ->option_text("FILE");
    app.add_option("--wrapper-state-dir", o.state_dir, "the daily job's state directory")
        ->envname("RESTIC_WRAPPER_STATE_DIR")
        ->option_text("DIR");
    return tool.run(split.wrapper, [&] { return core::wrapper_command(o); });
}
