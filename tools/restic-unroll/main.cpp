// restic-unroll: turns an include list into the exclude file for a `/`-rooted restic backup.
#include "core/unroll.hpp"
#include "util/cli.hpp"

#include <CLI/CLI.hpp>

namespace {

constexpr const char* k_prog = "restic-unroll";

constexpr const char* k_description =
    "Turns a list of what to back up (INCLUDE_FILE) into the exclude file (OUTPUT_FILE) for\n"
    "`restic backup / --exclude-file OUTPUT_FILE`, so that the snapshot holds exactly the\n"
    "directories on the way to each include and everything below each include. The file\n"
    "system is read every run: each directory on the way is read once, nothing below an\n"
    "include is read. Standard input and output when a file is absent or '-'.";

constexpr const char* k_footer =
    "Include file:\n"
    "  One absolute path per line, taken byte for byte (white space is part of the path).\n"
    "  Empty and white-space-only lines and lines starting with '#' are ignored. Repeated\n"
    "  slashes and '.' components are normalised; a relative path, a '..' component or a\n"
    "  list without any path is an error naming every bad line (exit 100). An include below\n"
    "  another include adds nothing.\n"
    "\n"
    "Symbolic links:\n"
    "  A link on the way to an include is followed (a relative target from the link's\n"
    "  directory, an absolute one from the root, at most 40 links per include) and both the\n"
    "  link and the directories on the way to its target are kept. An include that is a link\n"
    "  is kept as the link (restic stores links as links), its target is not followed.\n"
    "\n"
    "Output:\n"
    "  One restic exclude pattern per line, sorted by bytes: the absolute path (with the root\n"
    "  in front when --root is given) of every entry of a directory on the way to an include\n"
    "  that is neither on the way to an include nor an include itself. Each pattern matches\n"
    "  exactly that path (and so everything below it): '*', '?', '[', ']' and '\\' are\n"
    "  escaped with '\\'. A newline, every '$' and white space at the end of a path cannot\n"
    "  be written literally in a restic exclude file: each becomes '?', which matches one\n"
    "  character. When such a pattern would also match something to back up, restic-unroll\n"
    "  refuses and names the path (exit 100). The output file is replaced atomically (mode\n"
    "  0644) and only when there is no error.\n"
    "\n"
    "An include that does not exist, or whose path runs through a non-directory or a loop of\n"
    "symbolic links, is reported as a warning and the exit status is 1; the output is\n"
    "complete for the other includes.";

} // namespace

int main(int argc, char** argv) {
    using namespace backup;
    CLI::App app(k_description, k_prog);
    core::UnrollOptions options;
    app.add_option("INCLUDE_FILE", options.include_file,
                   "the include list ('-' or absent: standard input)");
    app.add_option("OUTPUT_FILE", options.output_file,
                   "the exclude file to write ('-' or absent: standard output)");
    app.add_option("--root", options.root,
                   "treat DIR as the top of the tree: include paths are read below it and every "
                   "pattern starts with it (default /)")
        ->option_text("DIR");
    app.add_flag("--stats", options.stats,
                 "print includes, spine directories, directories read and opened, kept links "
                 "and excludes on standard error");
    util::describe_tool(app, k_footer);
    return util::run_tool(k_prog, app, argc, argv,
                          [&] { return core::unroll_command(options, k_prog); });
}
