#include "unroll/command.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "util/fd.hpp"
#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

util::ExitCode unroll_command(const UnrollOptions& options) {
    namespace stdfs = std::filesystem;
    bool from_stdin = options.include_file == "-";
    std::string source = from_stdin ? std::string("standard input") : options.include_file;
    Expected<std::string> text;
    if (from_stdin) {
        text = util::read_all(STDIN_FILENO, source);
    } else {
        text = util::read_file(options.include_file);
        std::error_code ec;
        if (!text && !stdfs::exists(options.include_file, ec)) {
            // A missing include list is a mistake in the configuration, not a passing failure.
            text = util::fail(ExitCode::permanent, "read include list {}: no such file",
                              options.include_file);
        }
    }
    std::string content = util::value_or_throw(std::move(text));
    auto includes = util::value_or_throw(parse_include_list(content, source));

    std::string root = "/";
    if (!options.root.empty()) {
        // restic matches patterns against absolute, lexically cleaned paths.
        root = stdfs::absolute(options.root).lexically_normal().string();
    }
    RealFileSystem fs;
    UnrollResult result = util::value_or_throw(unroll(includes, root, fs));

    std::string rendered = render_excludes(result);
    if (options.output_file == "-") {
        util::value_or_throw(util::write_all(STDOUT_FILENO, rendered, "standard output"));
    } else {
        util::value_or_throw(util::atomic_write(options.output_file, rendered, 0644));
    }
    for (const auto& problem : result.problems) {
        util::print_warning(problem);
    }
    if (options.stats) {
        const auto& s = result.stats;
        std::fputs(fmt::format("{}: stats: includes {}, spine directories {}, directories read "
                               "{}, directories opened {}, kept links {}, excludes {}\n",
                               util::program_name(), s.includes, s.spine_directories,
                               s.directories_read, fs.directories_opened(), s.kept_links,
                               s.excludes)
                       .c_str(),
                   stderr);
    }
    return result.problems.empty() ? ExitCode::ok : ExitCode::findings;
}

void add_restic_unroll_options(CLI::App& app, UnrollOptions& arguments) {
    app.add_option("INCLUDE_FILE", arguments.include_file,
                   "the include list (default: standard input)");
    app.add_option("OUTPUT_FILE", arguments.output_file,
                   "the exclude file (default: standard output)");
    app.add_option("--root", arguments.root,
                   "read the include paths below DIR, and prefix every pattern")
        ->option_text("DIR");
    app.add_flag("--stats", arguments.stats, "print what was read and excluded on standard error");
}

} // namespace backup::core
