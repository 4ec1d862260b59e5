// The destination of replication in a local directory (another disk).
#pragma once

#include "replicate/store.hpp"
#include "util/fd.hpp"
#include "util/lock.hpp"

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace backup::core {

// A local directory that must exist (a missing one is reported, never created: it may be a
// disk that is not mounted). Each file is written to a temporary name in its directory while
// its content is hashed, fsynced, checked against its name, then renamed into place without
// replacing anything (renameat2 RENAME_NOREPLACE, or link+unlink where the file system lacks
// it); the directories a phase touched are fsynced before copy() returns. Directories are
// created 0700 and files 0400 (0750 and 0440 for a group_readable source), as restic's local
// backend does.
class LocalReplicaStore final : public ReplicaStore {
public:
    LocalReplicaStore(fs::path dir, bool group_readable);

    std::string_view kind() const override { return "local"; }
    const std::string& target() const override { return m_target; }
    util::Expected<void> open() override;
    util::Expected<std::optional<std::string>> read_config(std::string_view expected) override;
    util::Expected<ReplicaListing> list() override;
    CopyOutcome copy(ReplicatePhase phase, const std::vector<std::string>& files,
                     SourceVerifier& verifier, const CopyHook& before_each) override;
    RemoveOutcome remove(ReplicatePhase phase, const std::vector<std::string>& files) override;

private:
    // One copy() call: what it did, the directories it changed (to fsync), the kind of files.
    struct CopyBatch {
        CopyOutcome& outcome;
        std::set<std::string> touched;
        bool content_addressed = true;
    };

    util::Expected<void> list_directory(const std::string& relative_dir, ReplicaListing& listing);
    util::Expected<void> ensure_directory(const std::string& relative_dir,
                                          std::set<std::string>& touched);
    // A file already known to be corrupt, unreadable or gone: recorded, not read again.
    static bool skip_known(const std::string& relative, const SourceVerifier& verifier,
                           CopyOutcome& outcome);
    // Copies one file; false when the batch must stop (outcome.error is set).
    bool copy_file(const std::string& relative, SourceVerifier& verifier, CopyBatch& batch);
    // Copies files of a remote primary (verifier.remote()): each streamed into its temporary
    // file at once (up to 8 at a time), hashed and made durable, then, in order, the ones that
    // verified are published until the first failure; a read that failed stops the batch (111)
    // and no file after it is published. Every temporary file not published is removed.
    bool copy_remote_chunk(const std::vector<std::string>& files, SourceVerifier& verifier,
                           CopyBatch& batch);
    std::optional<util::Error> make_durable(util::Fd& out, const std::string& temp) const;
    // Renames the verified temporary file (content SHA-256 actual) into place, never over
    // another file (renamed says whether it was); false when the batch must stop.
    bool publish(const std::string& relative, const std::string& temp, const std::string& actual,
                 std::uint64_t size, CopyBatch& batch, bool& renamed);

    fs::path m_dir;
    std::string m_target;
    unsigned m_file_mode;
    unsigned m_dir_mode;
    std::optional<util::FileLock> m_lock;
    std::set<std::string> m_known_dirs; // relative directories known to exist
};

} // namespace backup::core
