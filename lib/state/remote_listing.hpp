// What backup-syncd's last listing of a remote primary saw, for backup-status, which may make no
// network request of its own: the listing's time, its error, and each snapshot object's upload
// time and size as the store's listing gives them (no request per object).
//
// File: <state>/remote-listing.json, JSON, schema 1, rewritten atomically after every listing:
//   {"schema": 1, "remote": "store:backups/web1", "listed": TIME, "error": null or "...",
//    "snapshots": [{"id": "<64 hex>", "time": TIME or null, "size": BYTES}, ...]}
// A failed listing keeps the snapshots of the last good one (they are what is known) and says
// why in "error"; "listed" is when it was tried.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_remote_listing_schema = 1;
inline constexpr std::string_view k_remote_listing_file = "remote-listing.json";

struct RemoteSnapshotObject {
    std::string id;
    std::optional<std::int64_t> time; // the object's time on the store (unix seconds)
    std::uint64_t size = 0;
};

struct RemoteListing {
    std::string remote;
    std::int64_t listed = 0;          // when the listing ran (unix seconds)
    std::optional<std::string> error; // it failed: why
    std::vector<RemoteSnapshotObject> snapshots;
};

std::filesystem::path remote_listing_path(const std::filesystem::path& state_dir);
// The record in state_dir; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<RemoteListing>>
read_remote_listing(const std::filesystem::path& state_dir);
// Writes it atomically, mode 0644.
util::Expected<void> write_remote_listing(const std::filesystem::path& state_dir,
                                          const RemoteListing& listing);

} // namespace backup::core
