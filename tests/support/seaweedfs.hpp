// A small SeaweedFS cluster on 127.0.0.1 for end-to-end tests: "somebody else's S3", a
// distributed object store the toolkit does not run. One master, two volume servers and a filer
// with its S3 gateway, each its own `weed` process (so one volume server can be stopped and
// started again), every port free and given explicitly (weed would otherwise put each gRPC port
// at its HTTP port + 10000), all data under the test's directory. The S3 gateway knows two
// identities from an -s3.config file: a read-write one and a read-only one (Read, List). A bucket
// is made before the constructor returns, and the cluster is ready: an S3 write through the
// gateway has succeeded with both volume servers registered. Everything is stopped when the
// fixture goes out of scope (TERM, a bounded wait, then KILL: weed takes seconds to stop).
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "support/fixtures.hpp"

namespace backup::test {

class SeaweedCluster {
public:
    struct Keys {
        std::string access_key;
        std::string secret_key;
    };

    // work_dir must exist; the cluster lives in work_dir/seaweedfs (logs: *.log there).
    explicit SeaweedCluster(const fs::path& work_dir, std::string bucket = "backups");
    SeaweedCluster(const SeaweedCluster&) = delete;
    SeaweedCluster& operator=(const SeaweedCluster&) = delete;
    ~SeaweedCluster();

    std::string endpoint() const; // http://127.0.0.1:S3PORT
    int s3_port() const { return m_s3_port; }
    const std::string& bucket() const { return m_bucket; }
    const Keys& read_write() const { return m_read_write; }
    const Keys& read_only() const { return m_read_only; }

    // RCLONE_CONFIG_<NAME>_* variables for an rclone s3 remote NAME on the gateway with keys
    // (added to env).
    void add_rclone_remote(Environment& env, const std::string& name, const Keys& keys) const;

    // Stops volume server index (0 or 1) and waits until the master no longer lists it;
    // start_volume starts it again on the same ports and data and waits until it is listed.
    void stop_volume(int index);
    void start_volume(int index);
    // How many volume servers the master lists now (-1 when it cannot be asked).
    int volume_servers_listed() const;

    // Stops everything (TERM to all at once, then each waited for, KILL after the grace).
    void stop();

private:
    struct Node {
        std::string name; // master, volume0, volume1, filer, s3
        std::vector<std::string> argv;
        std::optional<util::Child> child;
        util::Fd log;
    };

    void start(Node& node);
    void wait_for_volumes(int count, std::chrono::milliseconds timeout) const;
    void wait_for_s3_ready(std::chrono::milliseconds timeout);

    fs::path m_dir;
    std::string m_bucket;
    std::string m_weed;
    Keys m_read_write;
    Keys m_read_only;
    int m_master_port = 0;
    int m_s3_port = 0;
    std::array<Node, 5> m_nodes; // master, volume0, volume1, filer, s3
};

} // namespace backup::test
