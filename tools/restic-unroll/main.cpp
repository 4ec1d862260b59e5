// restic-unroll: turns an include list into the exclude file for a `/`-rooted restic backup.
#include "unroll/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::UnrollOptions o;
    util::Tool tool("restic-unroll");
    CLI::App& app = tool.app();
    app.add_option("INCLUDE_FILE", o.include_file, "the include list (default: standard input)");
    app.add_option("OUTPUT_FILE", o.output_file, "the exclude file (default: standard output)");
    app.add_option("--root", o.root, "read the include paths below DIR, and prefix every pattern")
        ->option_text("DIR");
    app.add_flag("--stats", o.stats, "print what was read and excluded on standard error");
    return tool.run(argc, argv, [&] { return core::unroll_command(o); });
}
