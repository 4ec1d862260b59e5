// backup-syncd: one per client under runsv; runs the sync command when snapshots change.
#include "syncd/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::SyncdArguments a;
    util::Tool tool("backup-syncd");
    core::add_backup_syncd_options(tool.app(), a);
    return tool.run(argc, argv, [&] { return core::backup_syncd_command(a); });
}
