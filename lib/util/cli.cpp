#include "util/cli.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "util/version.hpp"

namespace backup::util {

ToolHelp tool_help(std::string_view name) {
    const auto& texts = builtin_help_texts();
    auto it = texts.find(fmt::format("{}/help.txt", name));
    if (it == texts.end()) {
        return {};
    }
    std::string_view text = it->second;
    auto split = text.find("\n---\n");
    if (split == std::string_view::npos) {
        return {text, {}};
    }
    return {text.substr(0, split), text.substr(split + 5)};
}

namespace {

std::string trimmed(std::string_view text) {
    while (!text.empty() && text.back() == '\n') {
        text.remove_suffix(1);
    }
    return std::string(text);
}

// A help text that begins with its own "Usage:" lines (a tool with two forms) replaces CLI11's
// one-line usage instead of being followed by it.
class HelpFormatter : public CLI::Formatter {
public:
    std::string make_usage(const CLI::App* app, std::string name) const override {
        if (app->get_description().starts_with("Usage:")) {
            return "";
        }
        return CLI::Formatter::make_usage(app, std::move(name));
    }
};

} // namespace

Tool::Tool(std::string_view name)
    : m_app(std::make_unique<CLI::App>(trimmed(tool_help(name).description), std::string(name))) {
    set_program_name(name);
    m_app->formatter(std::make_shared<HelpFormatter>());
    std::string footer = trimmed(tool_help(name).footer);
    m_app->footer(footer.empty() ? exit_code_help() : footer + "\n\n" + exit_code_help());
    m_app->set_version_flag("--version", fmt::format("{} {}", name, k_version));
}

Tool::~Tool() = default;

std::size_t Tool::count(const std::string& option) const {
    return m_app->count(option);
}

int Tool::run(int argc, char** argv, const std::function<ExitCode()>& body) {
    return run_parsed([&] { m_app->parse(argc, argv); }, body);
}

int Tool::run(const std::vector<std::string>& args, const std::function<ExitCode()>& body) {
    // CLI11 takes a vector of arguments last one first.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    return run_parsed([&] { m_app->parse(reversed); }, body);
}

int Tool::run_parsed(const std::function<void()>& parse, const std::function<ExitCode()>& body) {
    std::string_view prog = program_name();
    try {
        parse();
    } catch (const CLI::CallForHelp& e) {
        return m_app->exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return m_app->exit(e);
    } catch (const CLI::CallForVersion& e) {
        return m_app->exit(e);
    } catch (const CLI::ParseError& e) {
        print_error(
            Error(ExitCode::permanent, fmt::format("unable to parse arguments: {}", e.what())));
        std::fputs(fmt::format("Run '{} --help' for usage.\n", prog).c_str(), stderr);
        return static_cast<int>(ExitCode::permanent);
    }
    try {
        return static_cast<int>(body());
    } catch (const Fatal& e) {
        print_error(e.error());
        return static_cast<int>(e.error().code());
    } catch (const std::exception& e) {
        print_error(Error(ExitCode::temporary, fmt::format("unable to continue: {}", e.what())));
        return static_cast<int>(ExitCode::temporary);
    }
}

} // namespace backup::util
