#include "replicate/store.hpp"

#include "replicate/local_store.hpp"
#include "replicate/rclone_store.hpp"

namespace backup::core {

bool is_replica_temporary_name(std::string_view name) {
    return name.find(k_replica_temporary_marker) != std::string_view::npos;
}

std::unique_ptr<ReplicaStore> make_replica_store(const Destination& destination,
                                                 const SourceRepository& source,
                                                 const RcloneSettings& rclone,
                                                 std::unique_ptr<util::RcloneDaemon> daemon) {
    if (destination.is_local()) {
        return std::make_unique<LocalReplicaStore>(destination.path, source.group_readable);
    }
    return std::make_unique<RcloneReplicaStore>(destination.remote, source.root, rclone,
                                                std::move(daemon));
}

std::unique_ptr<util::RcloneDaemon> spawn_rclone_daemon(const RcloneSettings& rclone) {
    auto daemon = util::RcloneDaemon::spawn(rclone_store_daemon_options(rclone));
    return daemon ? std::move(*daemon) : nullptr;
}

} // namespace backup::core
