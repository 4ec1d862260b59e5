// backup-status: the whole backup server at a glance.
#include "status/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::StatusArguments a;
    util::Tool tool("backup-status");
    core::add_backup_status_options(tool.app(), a);
    return tool.run(argc, argv, [&] {
        a.config_explicit = tool.count("--config") > 0;
        return core::backup_status_command(a);
    });
}
