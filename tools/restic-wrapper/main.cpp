// restic-wrapper: restic with the client's /etc/restic/environ, and the daily backup job.
#include "util/cli.hpp"
#include "wrapper/command.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    auto split = core::split_wrapper_arguments(std::vector<std::string>(argv + 1, argv + argc));
    core::WrapperOptions o;
    o.restic_args = split.restic;
    util::Tool tool("restic-wrapper");
    core::add_restic_wrapper_options(tool.app(), o);
    return tool.run(split.wrapper, [&] { return core::wrapper_command(o); });
}
