// The error model shared by every tool: one exit-code table, errors as values below, one
// exception type that unwinds to the single catch in each tool's main.
#pragma once

#include <expected>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace backup::util {

// The one exit-code table. Every tool's --help prints exit_code_help().
enum class ExitCode : int {
    ok = 0,          // success
    findings = 1,    // finished, but with findings or a partial failure (the output says what)
    permanent = 100, // usage or permanent error: bad input, bad config; retrying will not help
    temporary = 111, // temporary or system failure: retrying may help
};

// The worse of two outcomes, as every tool ranks them: 111 > 100 > 1 > 0 (a run that met a
// temporary failure and a finding reports the failure).
ExitCode worse(ExitCode a, ExitCode b);

// Text for the "Exit status" part of a tool's --help.
std::string exit_code_help();

// A failure: the exit code it maps to and a message of the form
// "unable to <verb> <object>: <reason>".
class Error {
public:
    Error(ExitCode code, std::string message) : m_code(code), m_message(std::move(message)) {}
    // A system call's failure: errno_code() tells callers which (ENOENT, EACCES, ...).
    Error(ExitCode code, std::string message, int errno_code)
        : m_code(code), m_message(std::move(message)), m_errno(errno_code) {}
    // Several independent problems found in one phase (a config file, an include list), reported
    // together, one line each. messages must not be empty.
    static Error several(ExitCode code, std::vector<std::string> messages);

    ExitCode code() const { return m_code; }
    const std::string& message() const { return m_message; }
    // Further problems reported with this one (see several()).
    const std::vector<std::string>& more() const { return m_more; }
    // The errno of the system call that failed, or 0 when the error is not one.
    int errno_code() const { return m_errno; }

    // The same error with another exit code (a missing file may be permanent for one caller and
    // temporary for another).
    Error with_code(ExitCode code) const& {
        Error error = *this;
        error.m_code = code;
        return error;
    }
    // The same error with "context: " in front, for errors passed up a level.
    Error with_context(std::string_view context) const&;

private:
    ExitCode m_code;
    std::string m_message;
    std::vector<std::string> m_more;
    int m_errno = 0;
};

template <typename T = void>
using Expected = std::expected<T, Error>;

// "unable to <what>: <reason>" with the given code.
template <typename... Args>
std::unexpected<Error> fail(ExitCode code, fmt::format_string<Args...> what, Args&&... args) {
    return std::unexpected(
        Error(code, fmt::format("unable to {}", fmt::format(what, std::forward<Args>(args)...))));
}

// "unable to <what>: <strerror(err)>", exit code 111 (a system failure), carrying err.
std::unexpected<Error> fail_errno(int err, std::string_view what);

// Propagates an error: evaluates an Expected and, when it holds an error, returns that error from
// the enclosing function (which must return an Expected); else the expression yields the value.
//   std::string text = TRY(util::read_file(path));
//   TRY(util::atomic_write(path, text, 0644));
// A GCC/Clang statement expression (ccache's and SerenityOS's TRY work the same way).
#define TRY(...)                                                                                   \
    __extension__({                                                                                \
        auto&& try_result_ = (__VA_ARGS__);                                                        \
        if (!try_result_) {                                                                        \
            return std::unexpected(std::move(try_result_).error());                                \
        }                                                                                          \
        std::move(try_result_).value();                                                            \
    })

// The one exception: "abort this command". Caught only by run_tool().
class Fatal : public std::runtime_error {
public:
    explicit Fatal(Error error) : std::runtime_error(error.message()), m_error(std::move(error)) {}
    const Error& error() const { return m_error; }

private:
    Error m_error;
};

// Unwraps an Expected or throws Fatal.
template <typename T>
T value_or_throw(Expected<T> result) {
    if (!result) {
        throw Fatal(std::move(result.error()));
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(*result);
    }
}

// The name diagnostics start with: set once, by util::Tool (tests leave the default).
void set_program_name(std::string_view name);
std::string_view program_name();

// Writes "prog: error: message" (one line per problem) to stderr.
void print_error(const Error& error);
// Writes "prog: warning: message" (one line) to stderr.
void print_warning(std::string_view message);
// Writes "prog: message" (one line) to stdout and flushes it: an event of a daemon or a run.
void print_event(std::string_view message);

} // namespace backup::util
