// What the operations on provisioned clients share (provision, remove, rotate, access).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/layout.hpp"
#include "util/error.hpp"
#include "util/lock.hpp"

namespace backup::core {

// The configuration of a provisioned client; a bad name or no such client is 100.
util::Expected<ClientConfig> existing_client(const ServerLayout& layout, const std::string& host);

// The service directories of a client that a runsv may supervise.
std::vector<fs::path> client_service_dirs(const ClientPaths& paths);

// An exclusive lock on <root>/systems/.lock, waited for: two runs of new-restic-server must not
// pick the same port or change the same client at once.
util::Expected<util::FileLock> lock_server(const ServerLayout& layout);

// Renames from to to, never over anything (100 when to exists), and makes it durable.
util::Expected<void> rename_into_place(const fs::path& from, const fs::path& to);

} // namespace backup::core
