// restic-audit over a repository on an object store the toolkit does not run (a remote primary):
// the tree comes from one recursive listing through rclone, and each object of the slot is
// streamed through SHA-256 as it arrives, never written to disk. One `rclone rcd` serves a
// whole audit (util::RcloneDaemon), so a thousand objects cost one rclone start, not a thousand.
//
// Nothing here knows whose repository it is: the same store can read an rclone destination,
// given the rclone config that reaches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/hashing.hpp"
#include "audit/listing.hpp"
#include "util/error.hpp"
#include "util/rclone_rc.hpp"

namespace backup::core {

// Where a remote repository is and what reaches it.
struct RemoteAuditSource {
    std::string remote;        // rclone "NAME:PATH" (validate_rclone_remote)
    std::string rclone_config; // the rclone config file with NAME's credentials (RCLONE_CONFIG)
};

// The time one object may take to arrive: a floor, plus the object's size at a slow link's
// speed, so that a store that stops answering mid-object (a volume server gone) cannot hang a
// run.
std::chrono::milliseconds remote_stream_timeout(std::uint64_t size);

class RemoteAuditStore {
public:
    // Starts the rclone daemon (program from PATH unless given) with RCLONE_CONFIG set to the
    // source's config file. 111 when it cannot start; 100 when the config file is not there.
    static util::Expected<std::unique_ptr<RemoteAuditStore>>
    open(const RemoteAuditSource& source, const std::string& program = "rclone");

    // Every object below the remote, sorted by relative path, with its size and the store's
    // time of upload (--use-server-modtime: no request per object). nullopt: the remote's
    // bucket or directory does not exist. An error is 111 (the store unreachable, a 5xx) or 100
    // (credentials refused, an unknown remote: retrying will not mend it).
    util::Expected<std::optional<std::vector<AuditEntry>>> list();

    // Streams one object through SHA-256: match or mismatch against its name; vanished when the
    // store no longer has it (a prune between list and read: 404, or an error for an object that
    // a listing of its directory no longer shows); unavailable (with an error, 111) when the store
    // fails otherwise: a network error, a timeout, a 5xx. Never a mismatch for a failed read.
    // Thread-safe.
    HashResult hash(const AuditEntry& entry);

private:
    explicit RemoteAuditStore(RemoteAuditSource source) : m_source(std::move(source)) {}
    // Whether the object still exists (false: gone), asked after a failed read.
    util::Expected<bool> exists(const std::string& relative);

    RemoteAuditSource m_source;
    std::string m_fs; // the remote with a trailing '/' (or ':'), as rclone_store forms it
    std::unique_ptr<util::RcloneDaemon> m_daemon;
};

} // namespace backup::core
