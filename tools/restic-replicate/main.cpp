// restic-replicate: copies a restic repository's new files to other storage, safely.
#include "replicate/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::ReplicateCommand c;
    util::Tool tool("restic-replicate");
    core::add_restic_replicate_options(tool.app(), c);
    return tool.run(argc, argv, [&] { return core::replicate_command(c); });
}
