#include "replicate/store.hpp"

#include "replicate/local_store.hpp"
#include "replicate/rclone_store.hpp"

namespace backup::core {

bool is_replica_temporary_name(std::string_view name) {
    return name.find(k_replica_temporary_marker) != std::string_view::npos;
}

std::unique_ptr<ReplicaStore> make_replica_store(const Destination& destination,
                                                 const SourceRepository& source,
                                                 const RcloneSettings& rclone) {
    if (destination.is_local()) {
        return std::make_unique<LocalReplicaStore>(destination.path, source.group_readable);
    }
    return std::make_unique<RcloneReplicaStore>(destination.remote, source.root, rclone);
}

} // namespace backup::core
