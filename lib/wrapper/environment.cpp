#include "wrapper/environment.hpp"

#include "model/environ.hpp"
#include "util/fs.hpp"
#include "wrapper/server_check.hpp"

#include <cerrno>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

namespace {

// error, saying which assignment it is about: "... (RESTIC_CACERT set at FILE:7)".
std::unexpected<util::Error> noting(const util::Error& error, const std::string& where) {
    return std::unexpected(util::Error(error.code(), fmt::format("{} ({})", error.message(), where),
                                       error.errno_code()));
}

std::vector<uid_t> secret_owners() {
    std::vector<uid_t> owners{::getuid()};
    if (::getuid() != 0) {
        owners.push_back(0);
    }
    return owners;
}

} // namespace

util::Expected<ClientEnvironment> load_client_environment(const std::string& environ_file,
                                                          const util::Environment& base) {
    if (util::is_missing(environ_file)) {
        return util::fail(util::ExitCode::permanent,
                          "read the environ file {}: no such file; copy the environ file the "
                          "backup server printed there (mode 0600)",
                          environ_file);
    }
    auto owners = secret_owners();
    TRY(util::check_secret_file(environ_file, owners));
    std::string text = TRY(util::read_file(environ_file));
    auto assignments = TRY(parse_environ(text, environ_file));
    ClientEnvironment client;
    client.env = base;
    std::map<std::string, int> line_of; // the last assignment of each name wins, as in a shell
    for (const auto& a : assignments) {
        client.env[a.name] = a.value;
        line_of[a.name] = a.line;
    }
    // Where a value that is refused came from: the line of the environ file that set it.
    auto from_line = [&](const std::string& name) {
        auto it = line_of.find(name);
        return it == line_of.end() ? fmt::format("{} from the environment", name)
                                   : fmt::format("{} set at {}:{}", name, environ_file, it->second);
    };
    if (auto it = client.env.find("RESTIC_PASSWORD_FILE");
        it != client.env.end() && !it->second.empty()) {
        const std::string& password_file = it->second;
        if (util::is_missing(password_file)) {
            return util::fail(util::ExitCode::permanent,
                              "read the repository password file {} ({}): no such file; make it "
                              "with 'umask 077; openssl rand -base64 32 > {}' before "
                              "'restic-wrapper init', and keep a copy in a safe place",
                              password_file, from_line("RESTIC_PASSWORD_FILE"), password_file);
        }
        if (auto ok = util::check_secret_file(password_file, owners); !ok) {
            return noting(ok.error(), from_line("RESTIC_PASSWORD_FILE"));
        }
    }
    if (auto ok = check_ca_files(client.env); !ok) {
        return noting(ok.error(), from_line("RESTIC_CACERT"));
    }
    // REAL_RESTIC, else the restic installed with the toolkit, else restic from PATH.
    std::string program = util::bundled_program("restic").value_or("restic");
    if (auto it = client.env.find("REAL_RESTIC"); it != client.env.end() && !it->second.empty()) {
        program = it->second;
    }
    auto path = client.env.find("PATH");
    auto found = util::find_executable(
        program, path != client.env.end() ? path->second : "/usr/local/bin:/usr/bin:/bin");
    if (!found) {
        return line_of.contains("REAL_RESTIC") ? noting(found.error(), from_line("REAL_RESTIC"))
                                               : std::unexpected(found.error());
    }
    client.restic = *found;
    return client;
}

std::string redact_repository(std::string_view location) {
    auto scheme = location.find("://");
    if (scheme == std::string_view::npos) {
        return std::string(location);
    }
    auto host_start = scheme + 3;
    auto slash = location.find('/', host_start);
    auto at = location.rfind('@', slash == std::string_view::npos ? location.size() : slash);
    if (at == std::string_view::npos || at < host_start) {
        return std::string(location);
    }
    return fmt::format("{}{}", location.substr(0, host_start), location.substr(at + 1));
}

} // namespace backup::core
