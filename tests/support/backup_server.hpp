// A backup server root in a temp dir, provisioned with the real new-restic-server and run by a
// real top-level runsvdir, with clients that use the generated environ files.
#pragma once

#include <map>
#include <string>

#include "model/config.hpp"
#include "support/fixtures.hpp"

namespace backup::test {

class BackupServer {
public:
    // work must be a fresh directory; it is made traversable so the services can drop
    // privileges to nobody. The programs the services run are copied below it, because the
    // build and deps directories may not be readable by nobody.
    // address: where the storage servers listen and what clients connect to.
    explicit BackupServer(const fs::path& work, std::string extra_config = {},
                          std::string address = "127.0.0.1");
    ~BackupServer();

    const fs::path& root() const { return m_root; }
    const fs::path& config_file() const { return m_config_file; }
    fs::path scan_dir() const { return m_root / "systems/conf/runit"; }
    fs::path client_dir(const std::string& host) const { return m_root / "systems" / host; }
    // The shared instance of kind ("versitygw", "rest-server"): its directory and service.
    fs::path shared_dir(const std::string& kind) const { return m_root / "shared" / kind; }
    fs::path shared_service(const std::string& kind) const { return shared_dir(kind) / "service"; }

    // Runs new-restic-server with the config and extra args; returns its result.
    ProcessResult new_restic_server(std::vector<std::string> args) const;
    // Provisions and returns the client config; fails the test on error.
    core::ClientConfig provision(const std::string& host, const std::string& kind,
                                 std::vector<std::string> extra = {});
    core::ClientConfig client_config(const std::string& host) const;

    // Starts the top-level runsvdir (once).
    void start();
    void enable(const std::string& host);
    void disable(const std::string& host);
    // The server's CA certificate (made with the first TLS client).
    fs::path ca_file() const { return m_root / "tls/ca.pem"; }
    // Waits until the client's storage server accepts connections.
    void wait_for_storage(const std::string& host) const;
    // The pid of host's storage server (its runsv's supervise/pid), 0 when none runs.
    pid_t storage_pid(const std::string& host) const;
    // Waits until host's storage server is another process than before and accepts connections:
    // after a restart, whose `sv -w` counts in whole seconds and can report it done while the old
    // process still serves.
    void wait_for_restarted_storage(const std::string& host, pid_t before) const;
    RunsvdirTree& tree() { return *m_tree; }
    // The prefix of this root's client users (client_users in its config), and the users with
    // it that exist now (deleted when the server goes).
    const std::string& user_prefix() const { return m_user_prefix; }
    std::vector<std::string> client_users() const;

    // A restic client for host from its generated environ file, with its own password file.
    ResticClient client(const std::string& host) const;
    // Every secret value in the client's environ file.
    std::vector<std::string> secrets_of(const std::string& host) const;

private:
    fs::path m_work;
    fs::path m_root;
    fs::path m_bin;
    fs::path m_config_file;
    std::string m_address;
    std::string m_user_prefix;
    std::optional<RunsvdirTree> m_tree;
};

} // namespace backup::test
