// The frame every tool's main runs in: its help text, CLI11 parsing mapped onto the exit-code
// table, and the one catch of Fatal.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

// CLI11 is parsed only where options are declared (lib/*/command.cpp, util/cli.cpp), not by
// every tool's main: it is one of the heaviest headers of the build.
namespace CLI {
class App;
} // namespace CLI

namespace backup::util {

// Every tool's help text by its path below tools/ ("restic-audit/help.txt"), compiled in.
const std::map<std::string_view, std::string_view>& builtin_help_texts();

// A tool's help text, tools/<name>/help.txt: the description, a line "---", and the footer
// (what the options do not say: formats, files, what the exit codes mean for this tool).
struct ToolHelp {
    std::string_view description;
    std::string_view footer;
};
ToolHelp tool_help(std::string_view name);

// One tool: sets the program name (util::program_name()), makes the CLI11 app with the tool's
// help text, the exit-code table and --version.
class Tool {
public:
    explicit Tool(std::string_view name);
    ~Tool();
    Tool(const Tool&) = delete;
    Tool& operator=(const Tool&) = delete;
    CLI::App& app() { return *m_app; }
    // How often the option (e.g. "--config") was given; valid once run() has parsed.
    std::size_t count(const std::string& option) const;

    // Parses argv, then runs body. --help and --version exit 0, parse errors 100 (with CLI11's
    // message and a hint at --help), Fatal prints "prog: error: ..." and exits with its code; any
    // other exception exits 111. Returns the process exit status.
    int run(int argc, char** argv, const std::function<ExitCode()>& body);
    // The same for arguments already split off the command line (without the program name).
    int run(const std::vector<std::string>& args, const std::function<ExitCode()>& body);

private:
    int run_parsed(const std::function<void()>& parse, const std::function<ExitCode()>& body);

    std::unique_ptr<CLI::App> m_app;
};

} // namespace backup::util
