#include "provision/plan.hpp"
#include "provision/provision.hpp"

#include <cstdlib>
#include <unistd.h>

#include "util/process.hpp"

namespace backup::core {

namespace {

// The stop helper: as named; else the one installed with the toolkit (in its libexec
// directory), next to this program, or on PATH.
util::Expected<std::string> find_stop_helper(const std::string& named) {
    if (!named.empty()) {
        return named;
    }
    const std::string name = "restic-backup-stop";
    if (auto bundled = util::bundled_program(name)) {
        return *bundled;
    }
    std::string beside = util::own_directory() + "/" + name;
    if (::access(beside.c_str(), X_OK) == 0) {
        return beside;
    }
    const char* path = std::getenv("PATH");
    if (auto found = util::find_executable(name, path != nullptr ? path : "/usr/bin:/bin")) {
        return fs::absolute(*found).string();
    }
    return util::fail(util::ExitCode::permanent,
                      "find {}: it is not installed with this program (PREFIX/libexec/"
                      "restic-backup/) nor on PATH; name it with --stop-helper PATH (it is "
                      "runit-templates/systemd/{} in the source)",
                      name, name);
}

} // namespace

util::Expected<std::string> render_systemd_unit(const ServerConfig& server,
                                                const std::string& stop_helper) {
    std::string helper = TRY(find_stop_helper(stop_helper));
    ServerLayout layout(server.root);
    return render_template("systemd/restic-backup-runsvdir.service",
                           {{"ROOT", {server.root.string()}},
                            {"SCAN_DIR", {layout.scan_dir().string()}},
                            {"STOP_HELPER", {helper}}});
}

} // namespace backup::core
