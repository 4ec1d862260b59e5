// Where backup-syncd learns what is in a repository's snapshots/: a local directory (read
// directly; inotify only makes the daemon look sooner) or an rclone remote (one listing per
// interval). The daemon compares each listing with what was synced (diff_snapshots); a lister only
// says what is there, or that it cannot tell.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "state/remote_listing.hpp"
#include "state/syncd_state.hpp"
#include "util/error.hpp"
#include "util/process.hpp"

namespace backup::core {

class SnapshotLister {
public:
    virtual ~SnapshotLister() = default;
    // The snapshot IDs there now; names that are not 64 lowercase hex are ignored. A listing that
    // fails is an error, never an empty set.
    virtual util::Expected<SnapshotIds> list() = 0;
    // Whether the repository exists (restic init wrote its config). Asked only when a listing
    // failed or came back empty while snapshots were synced before; an error counts as "made",
    // so that the listing's failure is what the daemon reports.
    virtual bool repository_made() = 0;
    // What is watched (the snapshots/ directory or REMOTE/snapshots) and the repository, as the
    // sync command's BACKUP_WATCHDIR and BACKUP_REPOSITORY and the status file's watchdir.
    virtual std::string watched() const = 0;
    virtual std::string repository() const = 0;
};

// A snapshots/ directory on this machine.
class LocalSnapshotLister final : public SnapshotLister {
public:
    explicit LocalSnapshotLister(std::filesystem::path dir) : m_dir(std::move(dir)) {}
    util::Expected<SnapshotIds> list() override;
    bool repository_made() override;
    std::string watched() const override { return m_dir.string(); }
    std::string repository() const override { return m_dir.parent_path().string(); }

private:
    std::filesystem::path m_dir;
};

// How rclone is run for a listing: the program and its whole environment (RCLONE_CONFIG names
// the config file with the remote's credentials; nothing secret is on rclone's command line).
struct RcloneRunner {
    std::string program = "rclone";
    util::Environment env;
    int stop_fd = -1; // readable (a signal arrived): the listing is stopped and fails
};

// The snapshots of a repository on an rclone remote ("store:bucket/web1"). Each list() is one
//   rclone lsf -q --files-only --format tsp --use-server-modtime ... REMOTE/snapshots/
// which on S3 is one ListObjects request per 1,000 names (the trailing slash lists the prefix
// without a HEAD of it; --use-server-modtime takes each object's time from the listing instead
// of a HEAD per object for its metadata). With a record directory, every list() rewrites
// state/remote_listing.hpp's record there (what backup-status shows), its failures included. A
// prefix with no objects lists as empty on S3 (there are no directories); a missing bucket is
// rclone's exit 3, an error. repository_made() is one `rclone lsf --files-only REMOTE/config`.
class RcloneSnapshotLister final : public SnapshotLister {
public:
    RcloneSnapshotLister(std::string remote, RcloneRunner runner,
                         std::filesystem::path record_dir = {});
    util::Expected<SnapshotIds> list() override;
    bool repository_made() override;
    std::string watched() const override;
    std::string repository() const override { return m_remote; }

private:
    util::Expected<util::ProcessResult> lsf(const std::string& target);
    void record(const util::Expected<std::vector<RemoteSnapshotObject>>& listed);
    std::string m_remote;
    RcloneRunner m_runner;
    std::filesystem::path m_record_dir;
    std::vector<RemoteSnapshotObject> m_last_good; // kept in the record while listings fail
};

// The snapshot IDs in an `rclone lsf --files-only` output (one name per line): names of exactly
// 64 lowercase hex characters; every other line (temporary names, strays, "dir/") is ignored.
SnapshotIds snapshot_ids_from_lsf(std::string_view output);

// The snapshot objects in an `rclone lsf --files-only --format tsp` output run with TZ=UTC (one
// "YYYY-MM-DD HH:MM:SS;SIZE;NAME" per line), sorted by id: names of 64 lowercase hex characters;
// every other line is ignored, and a time or size that does not parse is left out (nullopt, 0).
std::vector<RemoteSnapshotObject> snapshot_objects_from_lsf(std::string_view output);

// The reason in rclone's stderr: its last ERROR or "Failed to" line without the timestamp, else
// its last line, else how it ended.
std::string rclone_failure(const util::ProcessResult& result);

} // namespace backup::core
