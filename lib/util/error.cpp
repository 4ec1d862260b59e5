#include "util/error.hpp"

#include <cstdio>
#include <cstring>

namespace backup::util {

std::string exit_code_help() {
    return "Exit status:\n"
           "  0    success\n"
           "  1    finished with findings or a partial failure (the messages say what)\n"
           "  100  usage or permanent error (bad arguments, configuration or input)\n"
           "  111  temporary or system failure (retrying may help)\n";
}

namespace {

int severity(ExitCode code) {
    switch (code) {
    case ExitCode::ok:
        return 0;
    case ExitCode::findings:
        return 1;
    case ExitCode::permanent:
        return 2;
    case ExitCode::temporary:
        return 3;
    }
    return 3;
}

} // namespace

ExitCode worse(ExitCode a, ExitCode b) {
    return severity(a) >= severity(b) ? a : b;
}

Error Error::several(ExitCode code, std::vector<std::string> messages) {
    Error error(code, messages.empty() ? std::string("unknown error") : messages.front());
    if (messages.size() > 1) {
        error.m_more.assign(std::make_move_iterator(messages.begin() + 1),
                            std::make_move_iterator(messages.end()));
    }
    return error;
}

Error Error::with_context(std::string_view context) const& {
    Error error(m_code, fmt::format("{}: {}", context, m_message), m_errno);
    for (const auto& m : m_more) {
        error.m_more.push_back(fmt::format("{}: {}", context, m));
    }
    return error;
}

std::unexpected<Error> fail_errno(int err, std::string_view what) {
    return std::unexpected(
        Error(ExitCode::temporary, fmt::format("unable to {}: {}", what, std::strerror(err)), err));
}

namespace {

// Newlines would break the one-line contract; a message never carries one on purpose.
std::string newlines_as_spaces(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return out;
}

std::string& program_name_storage() {
    static std::string name = "restic-backup-toolkit";
    return name;
}

} // namespace

void set_program_name(std::string_view name) {
    program_name_storage() = std::string(name);
}

std::string_view program_name() {
    return program_name_storage();
}

void print_error(const Error& error) {
    std::string_view prog = program_name();
    std::string text = fmt::format("{}: error: {}\n", prog, newlines_as_spaces(error.message()));
    for (const auto& m : error.more()) {
        text += fmt::format("{}: error: {}\n", prog, newlines_as_spaces(m));
    }
    std::fputs(text.c_str(), stderr);
}

void print_warning(std::string_view message) {
    std::fputs(
        fmt::format("{}: warning: {}\n", program_name(), newlines_as_spaces(message)).c_str(),
        stderr);
}

void print_event(std::string_view message) {
    std::fputs(fmt::format("{}: {}\n", program_name(), newlines_as_spaces(message)).c_str(),
               stdout);
    std::fflush(stdout);
}

} // namespace backup::util
