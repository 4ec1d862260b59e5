#include "state/replicate_hold.hpp"

#include "state/json_reader.hpp"
#include "state/replicate_ledger.hpp"
#include "util/fs.hpp"

#include <cerrno>
#include <filesystem>
#include <unistd.h>

namespace backup::core {

using util::Json;

std::string replica_hold_path(const std::string& state_dir, std::string_view name) {
    return fmt::format("{}/{}/{}.hold.json", state_dir, k_replicate_state_subdir, name);
}

Json replica_hold_to_json(const ReplicaHold& hold) {
    return Json{{"schema", k_replicate_hold_schema},
                {"destination", hold.destination},
                {"since", hold.since}};
}

util::Expected<ReplicaHold> replica_hold_from_json(const Json& json, std::string_view what,
                                                   std::string_view expected_name) {
    JsonFields fields{std::string(what)};
    ReplicaHold hold;
    if (fields.schema(json, k_replicate_hold_schema)) {
        hold.destination = fields.string(json, "destination", "");
        hold.since = fields.time(json, "since", "");
        if (!hold.destination.empty() && hold.destination != expected_name) {
            fields.problem("destination",
                           fmt::format("is '{}', not '{}'", hold.destination, expected_name));
        }
    }
    TRY(fields.result());
    return hold;
}

util::Expected<std::optional<ReplicaHold>> read_replica_hold(const std::string& path,
                                                             std::string_view expected_name) {
    return read_state_file<ReplicaHold>(
        path, k_replicate_hold_schema, [&](const Json& json, std::string_view what) {
            return replica_hold_from_json(json, what, expected_name);
        });
}

util::Expected<void> write_replica_hold(const std::string& path, const ReplicaHold& hold) {
    return util::write_json_file(path, replica_hold_to_json(hold), 0600);
}

util::Expected<bool> remove_replica_hold(const std::string& path) {
    if (::unlink(path.c_str()) != 0) {
        if (errno == ENOENT) {
            return false;
        }
        return util::fail_errno(errno, fmt::format("remove {}", path));
    }
    TRY(util::fsync_directory(std::filesystem::path(path).parent_path().string()));
    return true;
}

} // namespace backup::core
