// The frame every tool's main runs in: CLI11 parsing mapped onto the exit-code table and the one
// catch of Fatal.
#pragma once

#include <functional>
#include <string_view>

#include <CLI/CLI.hpp>

#include "util/error.hpp"

namespace backup::util {

// Parses argv into app, then runs body. --help and --version exit 0, parse errors 100 (with
// CLI11's message and a hint at --help), Fatal prints "prog: error: ..." and exits with its code;
// any other exception exits 111. Returns the process exit status.
int run_tool(std::string_view prog, CLI::App& app, int argc, char** argv,
             const std::function<ExitCode()>& body);

// Adds the exit-code table and a version flag to app's help.
void describe_tool(CLI::App& app, std::string_view extra_footer = {});

} // namespace backup::util
