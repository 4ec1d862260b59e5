#include "status/command.hpp"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "status/render.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace backup::core {

util::ExitCode backup_status_command(const StatusArguments& a) {
    auto status =
        util::value_or_throw(collect_status(a.root, a.now != 0 ? a.now : util::unix_now()));
    if (a.json) {
        std::string text =
            status_to_json(status).dump(2, ' ', false, util::Json::error_handler_t::replace);
        std::fputs((text + "\n").c_str(), stdout);
    } else {
        bool color = ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
        std::fputs(render_status_table(status, color).c_str(), stdout);
    }
    if (!a.prometheus.empty()) {
        util::value_or_throw(util::atomic_write(a.prometheus, render_prometheus(status), 0644));
    }
    return status.healthy() ? util::ExitCode::ok : util::ExitCode::findings;
}

} // namespace backup::core
