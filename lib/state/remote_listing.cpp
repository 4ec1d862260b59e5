#include "state/remote_listing.hpp"

#include "model/repository.hpp"
#include "state/json_reader.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::Json;

std::filesystem::path remote_listing_path(const std::filesystem::path& state_dir) {
    return state_dir / std::string(k_remote_listing_file);
}

util::Expected<std::optional<RemoteListing>>
read_remote_listing(const std::filesystem::path& state_dir) {
    std::string path = remote_listing_path(state_dir).string();
    auto json = TRY(read_state_json(path, k_remote_listing_schema));
    if (!json) {
        return std::optional<RemoteListing>();
    }
    JsonFields r(path);
    RemoteListing l;
    l.remote = r.string(*json, "remote", "");
    l.listed = util::parse_unix_time(r.time(*json, "listed", "")).value_or(0);
    l.error = r.optional_string(*json, "error", "");
    if (const Json* list = r.array(*json, "snapshots", "")) {
        for (const auto& item : *list) {
            RemoteSnapshotObject s;
            s.id = r.string(item, "id", "snapshots");
            if (!is_repository_id(s.id)) {
                r.problem("snapshots.id", "expected 64 lowercase hex characters");
            }
            if (auto time = r.optional_time(item, "time", "snapshots")) {
                s.time = util::parse_unix_time(*time);
            }
            s.size = static_cast<std::uint64_t>(r.integer(item, "size", "snapshots", 0, INT64_MAX));
            l.snapshots.push_back(std::move(s));
        }
    }
    TRY(r.result());
    return std::optional<RemoteListing>(std::move(l));
}

util::Expected<void> write_remote_listing(const std::filesystem::path& state_dir,
                                          const RemoteListing& l) {
    Json snapshots = Json::array();
    for (const auto& s : l.snapshots) {
        snapshots.push_back({{"id", s.id},
                             {"time", s.time ? Json(util::format_time(*s.time)) : Json(nullptr)},
                             {"size", s.size}});
    }
    Json json = {
        {"schema", k_remote_listing_schema},
        {"remote", l.remote},
        {"listed", util::format_time(l.listed)},
        {"error", l.error ? Json(*l.error) : Json(nullptr)},
        {"snapshots", std::move(snapshots)},
    };
    return util::write_json_file(remote_listing_path(state_dir).string(), json, 0644);
}

} // namespace backup::core
