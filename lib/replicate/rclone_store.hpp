// The destination of replication on an rclone remote (S3, B2, SFTP, ...), written by the real
// rclone.
#pragma once

#include "replicate/store.hpp"
#include "util/fs.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

// An rclone remote "name:path". Each phase is one
//   rclone copy -v --stats-log-level DEBUG --files-from-raw LIST --immutable --checksum
//               --no-traverse --no-update-modtime SOURCE REMOTE
// over the files it is given, each verified (hashed) first, so a run makes requests in
// proportion to the files it copies (-v: rclone names the files it sent, so that files it found
// there already are not taken for copied ones). Each deletion phase is one
//   rclone delete -q --files-from-raw LIST REMOTE
// read_config() is one `rclone copyto`, list() one `rclone lsf -R`. rclone runs in this process's
// process group, so that killing the group (a timeout, `sv kill`) stops it too. Exit codes:
// rclone's 1 (usage, unknown remote), 6 (a file at the destination differs: --immutable) and 7
// (fatal, e.g. refused credentials) are permanent (100), the rest temporary (111).
class RcloneReplicaStore final : public ReplicaStore {
public:
    RcloneReplicaStore(std::string remote, std::string source_root, RcloneSettings settings);

    std::string_view kind() const override { return "rclone"; }
    const std::string& target() const override { return m_remote; }
    util::Expected<void> open() override;
    util::Expected<std::optional<std::string>> read_config() override;
    util::Expected<ReplicaListing> list() override;
    CopyOutcome copy(ReplicatePhase phase, const std::vector<std::string>& files,
                     SourceVerifier& verifier, const CopyHook& before_each) override;
    RemoveOutcome remove(ReplicatePhase phase, const std::vector<std::string>& files) override;

private:
    util::Expected<util::ProcessResult> run(std::vector<std::string> args, std::string_view what);

    std::string m_remote;
    std::string m_source_root;
    RcloneSettings m_settings;
    std::optional<util::TempDir> m_scratch; // file lists and the fetched config
};

// The remote path of a file below an rclone remote: "b2:bucket/web1" + "config" gives
// "b2:bucket/web1/config"; "b2:" + "config" gives "b2:config".
std::string rclone_join(std::string_view remote, std::string_view relative);

} // namespace backup::core
