// restic-unroll as a command: the include list in, the exclude file out.
#pragma once

#include <string>

#include "unroll/unroll.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

struct UnrollOptions {
    std::string include_file = "-"; // "-": standard input
    std::string output_file = "-";  // "-": standard output; else written atomically, mode 0644
    std::string root;               // empty: "/"; a relative root is made absolute
    bool stats = false;             // print UnrollStats on stderr
};

// Declares restic-unroll's options on app, each stored in arguments.
void add_restic_unroll_options(CLI::App& app, UnrollOptions& arguments);

// restic-unroll: reads the include list, unrolls it against the real file system, writes the
// excludes and reports each problem as "prog: warning: ..." on stderr. Returns findings (1)
// when an include is not backed up (the output is complete for the rest), else ok. Throws
// util::Fatal for bad input (100), refused patterns (100) and unreadable files (111); then no
// output file is written.
util::ExitCode unroll_command(const UnrollOptions& options);

} // namespace backup::core
