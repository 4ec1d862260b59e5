// The destination of replication on an rclone remote (S3, B2, SFTP, ...), written by the real
// rclone.
#pragma once

#include "replicate/store.hpp"
#include "util/fs.hpp"
#include "util/rclone_rc.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

// An rclone remote "name:path", written through one `rclone rcd` per run (util/rclone_rc.hpp),
// started by open() and stopped with the store, with --s3-no-head (rclone takes a PUT's answer,
// whose ETag it checks against the MD5 it sent, instead of asking again). Per file copied:
//   operations/stat (does it exist?), then, when it does not, operations/copyfile without
//   rclone's own look at the destination (one HEAD and one PUT on S3);
// files that do exist go, together, through sync/copy --immutable --checksum --no-traverse
// (rclone leaves a file with the same size and hash, and fails for one that differs: never an
// overwrite). Each file is verified (hashed) first. read_config() is one operations/stat when the
// store's hash of the config (S3: its MD5) equals the source's, else a read through --rc-serve;
// list() is one operations/list -R; each deletion phase one operations/delete over the listed
// files. The remote is used as "name:path/" (no look at whether the path is a file), and, once
// it holds a config (so its bucket exists), with no_check_bucket=true. rclone's errors: bad
// parameters, an unknown remote, refused credentials and an immutable file that differs are
// permanent (100), the rest temporary (111).
class RcloneReplicaStore final : public ReplicaStore {
public:
    // daemon: one spawn_rclone_daemon() gave for it, which open() waits for instead of starting
    // one.
    RcloneReplicaStore(std::string remote, std::string source_root, RcloneSettings settings,
                       std::unique_ptr<util::RcloneDaemon> daemon = nullptr);

    std::string_view kind() const override { return "rclone"; }
    const std::string& target() const override { return m_remote; }
    util::Expected<void> open() override;
    util::Expected<std::optional<std::string>> read_config(std::string_view expected) override;
    util::Expected<ReplicaListing> list() override;
    CopyOutcome copy(ReplicatePhase phase, const std::vector<std::string>& files,
                     SourceVerifier& verifier, const CopyHook& before_each) override;
    RemoveOutcome remove(ReplicatePhase phase, const std::vector<std::string>& files) override;

private:
    // The destination as rclone's fs string for the calls from now on.
    const std::string& fs() const { return m_bucket_known ? m_fs_known : m_fs; }
    enum class Sent { sent, exists, vanished, refused };
    // A remote primary's file (remote_source.hpp): unless the destination has it (then exists,
    // once its content there is found to be the same), downloaded to a private scratch file
    // while hashed, and uploaded from there only when it hashes to its name; the state found
    // goes into state. A failed read is an error (111): nothing of it was sent.
    util::Expected<Sent> copy_remote_one(const std::string& relative, RemoteSource& remote,
                                         SourceFileState& state);
    // Whether the destination's relative holds the bytes whose SHA-256 is expected.
    util::Expected<bool> same_there(const std::string& relative, const std::string& expected);
    CopyOutcome copy_from_remote(ReplicatePhase phase, const std::vector<std::string>& files,
                                 SourceVerifier& verifier, const CopyHook& before_each);
    // Sends one verified file unless the destination has it (then: exists, nothing sent).
    util::Expected<Sent> copy_one(const std::string& relative);
    // sync/copy --immutable --checksum of files that the destination has: success means each is
    // the same there.
    util::Expected<void> copy_existing(ReplicatePhase phase, const std::vector<std::string>& files);

    std::string m_remote;
    std::string m_source_root;
    RcloneSettings m_settings;
    std::optional<util::TempDir> m_scratch; // file lists
    std::unique_ptr<util::RcloneDaemon> m_daemon;
    std::string m_fs;       // "name:path/"
    std::string m_fs_known; // the same with no_check_bucket=true, where it can be said
    bool m_bucket_known = false;
};

// How an rclone destination's daemon is started.
util::RcloneDaemonOptions rclone_store_daemon_options(const RcloneSettings& settings);

// The remote with a backend option: "s3:b/p" + "no_check_bucket=true" gives
// "s3,no_check_bucket=true:b/p"; nullopt when the remote's name part cannot take one (quotes).
std::optional<std::string> rclone_with_option(std::string_view remote, std::string_view option);

// The remote path of a file below an rclone remote: "b2:bucket/web1" + "config" gives
// "b2:bucket/web1/config"; "b2:" + "config" gives "b2:config".
std::string rclone_join(std::string_view remote, std::string_view relative);

} // namespace backup::core
