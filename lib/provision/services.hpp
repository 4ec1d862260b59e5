// runit service directories as provisioning makes them, and the control commands it sends.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "model/templates.hpp"
#include "provision/owner.hpp"
#include "util/error.hpp"

namespace backup::core {

using TemplateValues = std::map<std::string, TemplateValue>;

// Renders template_name with values into path (mode).
util::Expected<void> render_to(const fs::path& path, std::string_view template_name,
                               const TemplateValues& values, unsigned mode);

// A service directory dir with run (from run_template) and log/run (svlogd -tt into
// final_log_dir, which is made as log_dir now, owned by owner, with its rotation config).
util::Expected<void> make_service(const fs::path& dir, std::string_view run_template,
                                  TemplateValues values, const fs::path& log_dir,
                                  const fs::path& final_log_dir, const Owner& owner);

// Sends a runit control command ("hup", "restart") to a supervised service and waits for it;
// nothing when none supervises it (a server that starts later reads its files then).
util::Expected<void> sv_command(const fs::path& service, const std::string& command);

} // namespace backup::core
