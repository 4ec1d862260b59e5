#include "provision/port_registry.hpp"

#include <algorithm>
#include <sys/stat.h>

#include "model/layout.hpp"
#include "state/json_reader.hpp"

namespace backup::core {

namespace {

std::int64_t nanoseconds(const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

std::optional<FileIdentity> identity_from_json(const util::Json& j, JsonFields& r,
                                               const std::string& key) {
    if (j.is_null()) {
        return std::nullopt;
    }
    if (!j.is_array() || j.size() != 4 || !std::all_of(j.begin(), j.end(), [](const util::Json& v) {
            return v.is_number_integer();
        })) {
        r.problem(key, "expected null or [inode, size, mtime_ns, ctime_ns]");
        return std::nullopt;
    }
    return FileIdentity{j[0].get<std::int64_t>(), j[1].get<std::int64_t>(),
                        j[2].get<std::int64_t>(), j[3].get<std::int64_t>()};
}

} // namespace

std::optional<FileIdentity> file_identity(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return FileIdentity{static_cast<std::int64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
                        nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
}

util::Expected<std::optional<PortRegistry>> read_port_registry(const std::string& file) {
    auto json = TRY(read_state_json(file, k_port_registry_schema));
    if (!json) {
        return std::optional<PortRegistry>();
    }
    JsonFields r(file);
    PortRegistry registry;
    static const util::Json k_none = util::Json::object();
    const util::Json* clients = r.object(*json, "clients", "");
    for (const auto& [host, entry] : (clients ? *clients : k_none).items()) {
        std::string key = join_key("clients", host);
        if (!validate_host_name(host) || !entry.is_object() || !entry.contains("port") ||
            !entry.contains("config") || entry.size() != 2) {
            r.problem(key, "expected a host name and {\"port\": ..., \"config\": ...}");
            continue;
        }
        PortRegistryEntry e;
        const util::Json& port = entry["port"];
        if (!port.is_null()) {
            if (!port.is_number_integer() || port.get<std::int64_t>() < 1 ||
                port.get<std::int64_t>() > 65535) {
                r.problem(key + ".port", "expected null or a port number");
                continue;
            }
            e.port = port.get<int>();
        }
        e.config = identity_from_json(entry["config"], r, key + ".config");
        registry.clients.emplace(host, e);
    }
    TRY(r.result());
    return std::optional<PortRegistry>(std::move(registry));
}

util::Expected<void> write_port_registry(const std::string& file, const PortRegistry& registry) {
    util::Json clients = util::Json::object();
    for (const auto& [host, e] : registry.clients) {
        util::Json config = nullptr;
        if (e.config) {
            config = {e.config->inode, e.config->size, e.config->mtime_ns, e.config->ctime_ns};
        }
        clients[host] = {{"port", e.port ? util::Json(*e.port) : util::Json(nullptr)},
                         {"config", config}};
    }
    util::Json json = {{"schema", k_port_registry_schema}, {"clients", clients}};
    return util::write_json_file(file, json, 0600);
}

} // namespace backup::core
