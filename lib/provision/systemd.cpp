#include "provision/plan.hpp"
#include "provision/provision.hpp"

namespace backup::core {

util::Expected<std::string> render_systemd_unit(const ServerConfig& server,
                                                const std::string& stop_helper) {
    std::string helper = TRY(resolve_program(stop_helper, "restic-backup-stop", true));
    ServerLayout layout(server.root);
    return render_template("systemd/restic-backup-runsvdir.service",
                           {{"ROOT", {server.root.string()}},
                            {"SCAN_DIR", {layout.scan_dir().string()}},
                            {"STOP_HELPER", {helper}}});
}

} // namespace backup::core
