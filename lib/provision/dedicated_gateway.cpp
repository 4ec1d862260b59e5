#include "provision/dedicated_gateway.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

#include "provision/versitygw_files.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/socket.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

constexpr auto k_start_timeout = std::chrono::seconds(30);

Expected<std::string> find_chpst() {
    const char* path = std::getenv("PATH");
    auto found = util::find_executable("chpst", path != nullptr ? path : "/usr/bin:/bin");
    if (!found) {
        return util::fail(ExitCode::permanent,
                          "find chpst: not on PATH (apt-get install runit); the services need it");
    }
    return *found;
}

std::string first_line_of(const fs::path& file) {
    auto text = util::read_file(file.string());
    if (!text || text->empty()) {
        return "it wrote nothing";
    }
    return text->substr(0, text->find('\n'));
}

// Waits until the gateway's admin socket accepts a connection, or the gateway has exited.
Expected<void> wait_listening(util::Child& child, const fs::path& socket, const fs::path& log) {
    auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
    while (!util::connect_unix(socket.string(), std::chrono::seconds(5))) {
        // versitygw listens some 20 ms after it starts: a short poll, or each provisioning of a
        // dedicated versitygw client waits most of 100 ms for nothing.
        auto exited = TRY(child.wait_for(std::chrono::milliseconds(5)));
        if (exited) {
            return util::fail(ExitCode::temporary,
                              "start versitygw to make the account: it exited "
                              "at once ({})",
                              first_line_of(log));
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return util::fail(ExitCode::temporary,
                              "start versitygw to make the account: its admin API did not come up "
                              "within {} s ({})",
                              k_start_timeout.count(), first_line_of(log));
        }
    }
    return {};
}

} // namespace

GatewayFiles gateway_files(const ClientPaths& paths) {
    return {paths.secrets / "versitygw.env", paths.secrets / "iam", paths.secrets / "admin.sock",
            paths.data};
}

bool has_gateway_account(const ClientPaths& paths) {
    std::error_code ec;
    return fs::exists(paths.secrets / "versitygw-account", ec);
}

Expected<void> with_offline_gateway(const std::string& binary, const GatewayFiles& files,
                                    const Owner& owner, const AdminCall& fn) {
    // Short socket paths (108 bytes at most), in a directory only root and the owner enter.
    auto sockets = TRY(util::TempDir::create_in_tmp("new-restic-server-gateway"));
    if (::geteuid() == 0 && ::chown(sockets.path().c_str(), owner.uid, owner.gid) != 0) {
        return util::fail_errno(errno, fmt::format("change the owner of {}", sockets.str()));
    }
    fs::path log = sockets.path() / "log";
    util::Fd log_fd =
        TRY(util::open_fd(log.string(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    fs::path admin_socket = sockets.path() / "admin.sock";
    util::SpawnOptions o;
    // The root keys go from the envdir to the gateway as in its run script: never on a command
    // line, read by chpst as root.
    o.argv = {TRY(find_chpst()), "-e", files.envdir.string()};
    if (::geteuid() == 0) { // else this process is the owner (provision_client's contract)
        o.argv.insert(o.argv.end(), {"-u", fmt::format("{}:{}", owner.user, owner.group)});
    }
    o.argv.insert(o.argv.end(), {binary, "--port", (sockets.path() / "s3.sock").string(),
                                 "--admin-port", admin_socket.string(), "--iam-dir",
                                 files.iam.string(), "posix", files.data.string()});
    o.env = {{"PATH", "/usr/bin:/bin"}};
    o.stdout_fd = log_fd.get();
    o.stderr_fd = log_fd.get();
    o.kill_grace = std::chrono::milliseconds(5000);
    util::Child child = TRY(util::Child::spawn(o));
    TRY(wait_listening(child, admin_socket, log));
    VersitygwAdmin admin = TRY(VersitygwAdmin::for_envdir(files.envdir, admin_socket));
    auto done = fn(admin);
    (void)child.terminate();
    return done;
}

Expected<void> create_gateway_account(const GatewayFiles& files, const Owner& owner,
                                      const std::string& bucket, const Credentials& credentials) {
    // Written as the pinned versitygw's admin API would write them, without starting it for that
    // (half of each provisioning); tests/e2e/test_versitygw_files.cpp holds the two together.
    TRY(write_versitygw_account(files.iam, credentials.access_key, credentials.secret, owner));
    return make_versitygw_bucket(files.data, bucket, credentials.access_key, owner);
}

} // namespace backup::core
