// The port registry: what port each provisioned client's client.yaml gives, with the identity of
// that client.yaml when it was read, so that choosing a port for a new client reads only the
// client.yaml files that changed since, not every one (which made provisioning O(n) each,
// O(n^2) for n clients).
//
// File: <root>/systems/.ports.json, JSON:
//   {"schema": 1, "clients": {"web1": {"port": 30000, "config": [inode, size, mtime_ns,
//   ctime_ns]}}}
// "port" is null for a client without a port of its own (topology shared) or whose client.yaml
// does not load; "config" is null for an entry to read again next time (a client.yaml changed so
// recently that a change within the same clock tick would not show in its times).
//
// Invariant: an entry counts only while its client.yaml still has the identity recorded, so the
// registry is a cache that can never disagree with the client.yaml files: deleting it (or any
// entry) only costs one read of each client.yaml. It is written under the provisioning lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_port_registry_schema = 1;
inline constexpr std::string_view k_port_registry_file = ".ports.json";

// What changes whenever a file is rewritten or replaced (a new inode, a write, a chmod).
struct FileIdentity {
    std::int64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
};

struct PortRegistryEntry {
    std::optional<int> port;
    std::optional<FileIdentity> config;
};

struct PortRegistry {
    std::map<std::string, PortRegistryEntry> clients;
};

// The identity of the file at path; nullopt when it cannot be stat'ed.
std::optional<FileIdentity> file_identity(const std::filesystem::path& path);

// The registry in file; nullopt when there is none. Unreadable: 111; invalid (another schema, a
// bad host name, port or identity): 100.
util::Expected<std::optional<PortRegistry>> read_port_registry(const std::string& file);
// Writes it atomically, mode 0600.
util::Expected<void> write_port_registry(const std::string& file, const PortRegistry& registry);

} // namespace backup::core
