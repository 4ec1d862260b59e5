#include "util/cli.hpp"

#include <cstdio>
#include <exception>
#include <string>

#include "util/version.hpp"

namespace backup::util {

void describe_tool(CLI::App& app, std::string_view extra_footer) {
    std::string footer;
    if (!extra_footer.empty()) {
        footer = fmt::format("{}\n\n", extra_footer);
    }
    footer += exit_code_help();
    app.footer(footer);
    app.set_version_flag("--version", std::string(k_version));
}

int run_tool(std::string_view prog, CLI::App& app, int argc, char** argv,
             const std::function<ExitCode()>& body) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        print_error(prog, Error(ExitCode::permanent, fmt::format("unable to parse arguments: {}",
                                                                 e.what())));
        std::fputs(fmt::format("Run '{} --help' for usage.\n", prog).c_str(), stderr);
        return static_cast<int>(ExitCode::permanent);
    }
    try {
        return static_cast<int>(body());
    } catch (const Fatal& e) {
        print_error(prog, e.error());
        return static_cast<int>(e.error().code());
    } catch (const std::exception& e) {
        print_error(prog, Error(ExitCode::temporary, fmt::format("unable to continue: {}", e.what())));
        return static_cast<int>(ExitCode::temporary);
    }
}

} // namespace backup::util
