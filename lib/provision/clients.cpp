#include "provision/clients.hpp"

#include "util/dir.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<ClientConfig> existing_client(const ServerLayout& layout, const std::string& host) {
    TRY(validate_host_name(host));
    auto paths = layout.client(host);
    std::error_code ec;
    if (!fs::is_directory(paths.dir, ec)) {
        return util::fail(ExitCode::permanent, "find client {}: no directory {}", host,
                          paths.dir.string());
    }
    return load_client_config(paths.config_file.string());
}

std::vector<fs::path> client_service_dirs(const ClientPaths& paths) {
    std::vector<fs::path> dirs = {paths.service, paths.service / "log"};
    auto entries = util::read_directory(paths.services.string(), util::IfMissing::empty);
    for (const auto& entry : entries.value_or(std::vector<util::DirEntry>{})) {
        dirs.push_back(paths.services / entry.name);
        dirs.push_back(paths.services / entry.name / "log");
    }
    return dirs;
}

Expected<util::FileLock> lock_server(const ServerLayout& layout) {
    return util::FileLock::acquire((layout.systems() / ".lock").string(), 0600);
}

} // namespace backup::core
