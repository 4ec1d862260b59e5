#include "core/wrapper.hpp"

#include "core/environ.hpp"
#include "core/wrapper_daily.hpp"
#include "util/fs.hpp"

#include <cerrno>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

namespace {

bool missing(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
}

std::vector<uid_t> secret_owners() {
    std::vector<uid_t> owners{::getuid()};
    if (::getuid() != 0) {
        owners.push_back(0);
    }
    return owners;
}

// Replaces this process with restic, like the original `exec restic "$@"`: restic keeps this
// process's standard streams, terminal and signals, and its exit status is the wrapper's.
[[noreturn]] void exec_restic(const ClientEnvironment& client,
                              const std::vector<std::string>& args) {
    std::vector<std::string> argv_strings{client.restic};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (const auto& [name, value] : client.env) {
        env_strings.push_back(name + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::fflush(nullptr);
    ::execve(client.restic.c_str(), argv.data(), envp.data());
    int err = errno;
    throw util::Fatal(util::fail_errno(err, fmt::format("run {}", client.restic)).error());
}

} // namespace

SplitArguments split_wrapper_arguments(const std::vector<std::string>& args) {
    SplitArguments out;
    std::size_t i = 0;
    while (i < args.size()) {
        const std::string& a = args[i];
        if (a == "--daily" || a == "--help" || a == "-h" || a == "--version") {
            out.wrapper.push_back(a);
            ++i;
        } else if (a.starts_with("--wrapper-")) {
            out.wrapper.push_back(a);
            ++i;
            if (a.find('=') == std::string::npos && i < args.size()) {
                out.wrapper.push_back(args[i]);
                ++i;
            }
        } else if (a == "--") {
            ++i;
            break;
        } else {
            break;
        }
    }
    out.restic.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    return out;
}

util::Expected<ClientEnvironment> load_client_environment(const std::string& environ_file,
                                                          const util::Environment& base) {
    if (missing(environ_file)) {
        return util::fail(util::ExitCode::permanent,
                          "read the environ file {}: no such file; copy the environ file the "
                          "backup server printed there (mode 0600)",
                          environ_file);
    }
    auto owners = secret_owners();
    if (auto ok = util::check_secret_file(environ_file, owners); !ok) {
        return std::unexpected(ok.error());
    }
    auto text = util::read_file(environ_file);
    if (!text) {
        return std::unexpected(text.error());
    }
    auto assignments = parse_environ(*text, environ_file);
    if (!assignments) {
        return std::unexpected(assignments.error());
    }
    ClientEnvironment client;
    client.env = base;
    for (const auto& a : *assignments) {
        client.env[a.name] = a.value;
    }
    if (auto it = client.env.find("RESTIC_PASSWORD_FILE");
        it != client.env.end() && !it->second.empty()) {
        const std::string& password_file = it->second;
        if (missing(password_file)) {
            return util::fail(util::ExitCode::permanent,
                              "read the repository password file {} (RESTIC_PASSWORD_FILE): no "
                              "such file; make it with 'umask 077; openssl rand -base64 32 > {}' "
                              "before 'restic-wrapper init', and keep a copy in a safe place",
                              password_file, password_file);
        }
        if (auto ok = util::check_secret_file(password_file, owners); !ok) {
            return std::unexpected(ok.error());
        }
    }
    std::string program = "restic";
    if (auto it = client.env.find("REAL_RESTIC"); it != client.env.end() && !it->second.empty()) {
        program = it->second;
    }
    auto path = client.env.find("PATH");
    auto found = util::find_executable(
        program, path != client.env.end() ? path->second : "/usr/local/bin:/usr/bin:/bin");
    if (!found) {
        return std::unexpected(found.error());
    }
    client.restic = *found;
    return client;
}

util::ExitCode wrapper_command(const WrapperOptions& options, std::string_view prog) {
    if (options.daily) {
        if (!options.restic_args.empty()) {
            throw util::Fatal(util::Error(
                util::ExitCode::permanent,
                fmt::format("unable to parse arguments: --daily takes no restic arguments "
                            "(got '{}'); configure the job in {}",
                            options.restic_args.front(), options.config_file)));
        }
        DailyJobOptions daily;
        daily.environ_file = options.environ_file;
        daily.config_file = options.config_file;
        daily.config_required = options.config_file != k_default_wrapper_config;
        daily.state_dir = options.state_dir;
        return run_daily_job(daily, prog);
    }
    auto client = util::value_or_throw(
        load_client_environment(options.environ_file, util::current_environment()));
    exec_restic(client, options.restic_args);
}

} // namespace backup::core
