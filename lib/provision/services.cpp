#include "provision/services.hpp"

#include "model/runit.hpp"
#include "util/process.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// svlogd: rotate at 10 MB, keep 10 files.
constexpr std::string_view k_log_config = "s10000000\nn10\n";

} // namespace

Expected<void> render_to(const fs::path& path, std::string_view template_name,
                         const TemplateValues& values, unsigned mode) {
    std::string text = TRY(render_template(template_name, values));
    return write_file(path, text, mode);
}

Expected<void> make_service(const fs::path& dir, std::string_view run_template,
                            TemplateValues values, const fs::path& log_dir,
                            const fs::path& final_log_dir, const Owner& owner) {
    TRY(make_dir(dir, 0755));
    TRY(render_to(dir / "run", run_template, values, 0755));
    TRY(make_dir(dir / "log", 0755));
    values["LOG_DIR"] = {final_log_dir.string()};
    TRY(render_to(dir / "log" / "run", "log/run", values, 0755));
    TRY(make_dir(log_dir, 0750, &owner));
    return write_file(log_dir / "config", k_log_config, 0644, &owner);
}

Expected<void> sv_command(const fs::path& service, const std::string& command) {
    if (!TRY(is_supervised(service))) {
        return {};
    }
    util::SpawnOptions o;
    o.argv = {"sv", "-w", "30", command, service.string()};
    o.env = util::current_environment();
    o.timeout = std::chrono::seconds(60);
    auto r = util::run(o);
    if (!r || !r->success()) {
        return util::fail(ExitCode::temporary, "run 'sv {} {}': {}", command, service.string(),
                          r ? r->describe() + " " + r->out : r.error().message());
    }
    return {};
}

} // namespace backup::core
