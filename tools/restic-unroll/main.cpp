// restic-unroll: turns an include list into the exclude file for a `/`-rooted restic backup.
#include "unroll/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::UnrollOptions o;
    util::Tool tool("restic-unroll");
    core::add_restic_unroll_options(tool.app(), o);
    return tool.run(argc, argv, [&] { return core::unroll_command(o); });
}
