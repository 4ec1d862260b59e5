// A remote primary as the source of replication: a repository on an object store the toolkit
// does not run, named by an rclone remote ("store:backups/web1"), listed and read through one
// `rclone rcd` per run (util/rclone_rc.hpp) with nothing but list and get, so the server side's
// read-only key is enough.
#pragma once

#include "replicate/source.hpp"
#include "replicate/store.hpp"
#include "util/error.hpp"
#include "util/rclone_rc.hpp"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace backup::core {

class RemoteSource {
public:
    // Starts the run's daemon for remote with rclone's environment (its credentials: the
    // RCLONE_CONFIG file it names, or RCLONE_CONFIG_<NAME>_* variables). 111 when it cannot start.
    static util::Expected<std::shared_ptr<RemoteSource>> open(std::string remote,
                                                              const RcloneSettings& rclone);

    const std::string& remote() const { return m_remote; }

    // Lists the repository as list_source_repository does a directory, with the same result:
    // snapshots/, then index/, then data/ (recursively), then keys/, then config is read; sizes
    // and snapshot times are kept from the listing. A directory whose listing fails (a server
    // error, the network) goes into unlisted; a config that cannot be read is an error (111, or
    // 100 for what rclone says retrying cannot mend: an unknown remote, refused credentials).
    // The caller sets the result's remote.
    util::Expected<SourceRepository> list();

    // list_source_presence for a remote source: data from the run's listing, then index/ and
    // snapshots/ listed again, in that order; any listing that fails is an error.
    util::Expected<std::array<std::vector<std::string>, k_replicate_phase_count>>
    presence(const SourceRepository& listed);

    enum class Read { done, gone };
    // Streams the object relative to sink. done: all of it was handed over; gone: it is not
    // there (a failed GET after which operations/stat finds no such object: a prune); an error
    // (111) for anything else (a server error, the network, a transfer cut short), after which
    // the bytes handed over must not be used. A sink returning false ends it with an error.
    util::Expected<Read> read(const std::string& relative, const util::RcloneSink& sink);

private:
    RemoteSource() = default;
    // One directory of the repository ("snapshots", "data" recursively) into repo.
    void take_directory(SourceRepository& repo, const std::string& relative_dir, bool recurse,
                        bool times);
    util::Expected<void> read_config(SourceRepository& repo);

    std::string m_remote;
    std::string m_fs; // "name:path/"
    std::unique_ptr<util::RcloneDaemon> m_daemon;
};

} // namespace backup::core
