#include "support/seaweedfs.hpp"

#include <csignal>
#include <fcntl.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "util/fs.hpp"
#include "util/http.hpp"
#include "util/random.hpp"

namespace backup::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// weed stops its servers one after another on TERM and takes seconds for it.
constexpr std::chrono::milliseconds k_stop_grace = 15s;
constexpr std::chrono::milliseconds k_start_timeout = 90s;

SeaweedCluster::Keys make_keys() {
    return {*util::random_token(20, util::k_upper_alphanumeric), *util::random_token(40)};
}

std::string s3_config(const SeaweedCluster::Keys& rw, const SeaweedCluster::Keys& ro) {
    auto identity = [](const char* name, const SeaweedCluster::Keys& keys,
                       std::vector<std::string> actions) {
        return nlohmann::json{
            {"name", name},
            {"credentials", {{{"accessKey", keys.access_key}, {"secretKey", keys.secret_key}}}},
            {"actions", std::move(actions)}};
    };
    nlohmann::json config = {
        {"identities",
         {identity("client", rw, {"Admin", "Read", "List", "Tagging", "Write"}),
          identity("server", ro, {"Read", "List"})}}};
    return config.dump(2) + "\n";
}

// "127.0.0.1:HTTP.GRPC": weed's form of an address with its gRPC port.
std::string with_grpc(int port, int grpc) {
    return fmt::format("127.0.0.1:{}.{}", port, grpc);
}

} // namespace

SeaweedCluster::SeaweedCluster(const fs::path& work_dir, std::string bucket)
    : m_dir(work_dir / "seaweedfs"), m_bucket(std::move(bucket)), m_weed(require_program("weed")),
      m_read_write(make_keys()), m_read_only(make_keys()) {
    for (const char* sub : {"master", "volume0", "volume1", "filer", "s3"}) {
        fs::create_directories(m_dir / sub);
    }
    fs::path config = m_dir / "s3.json";
    REQUIRE(util::atomic_write(config.string(), s3_config(m_read_write, m_read_only), 0600));
    // Every port explicitly: weed's default gRPC port is the HTTP port + 10000.
    m_master_port = free_port();
    int master_grpc = free_port();
    std::string master = with_grpc(m_master_port, master_grpc);
    m_nodes[0].name = "master";
    m_nodes[0].argv = {m_weed,
                       "master",
                       "-ip=127.0.0.1",
                       "-ip.bind=127.0.0.1",
                       fmt::format("-port={}", m_master_port),
                       fmt::format("-port.grpc={}", master_grpc),
                       "-mdir=" + (m_dir / "master").string(),
                       "-peers=none",
                       "-volumeSizeLimitMB=64",
                       "-defaultReplication=000",
                       "-telemetry=false"};
    for (int i = 0; i < 2; ++i) {
        Node& node = m_nodes[1 + i];
        node.name = fmt::format("volume{}", i);
        node.argv = {m_weed,
                     "volume",
                     "-ip=127.0.0.1",
                     "-ip.bind=127.0.0.1",
                     fmt::format("-port={}", free_port()),
                     fmt::format("-port.grpc={}", free_port()),
                     "-dir=" + (m_dir / node.name).string(),
                     "-max=20",
                     "-minFreeSpace=1MiB",
                     "-master=" + master};
    }
    int filer_port = free_port();
    int filer_grpc = free_port();
    m_nodes[3].name = "filer";
    m_nodes[3].argv = {m_weed,
                       "filer",
                       "-ip=127.0.0.1",
                       "-ip.bind=127.0.0.1",
                       fmt::format("-port={}", filer_port),
                       fmt::format("-port.grpc={}", filer_grpc),
                       "-master=" + master,
                       "-defaultStoreDir=" + (m_dir / "filer").string(),
                       "-localSocket=" + (m_dir / "filer.sock").string()};
    // The S3 gateway as its own process (the filer's -s3 never came up here: it also opens an
    // Iceberg and a Lance port by default, 8181 and 9101, disabled below).
    m_s3_port = free_port();
    m_nodes[4].name = "s3";
    m_nodes[4].argv = {m_weed,
                       "s3",
                       "-ip.bind=127.0.0.1",
                       fmt::format("-port={}", m_s3_port),
                       fmt::format("-port.grpc={}", free_port()),
                       "-port.iceberg=0",
                       "-port.lance=0",
                       "-filer=" + with_grpc(filer_port, filer_grpc),
                       "-config=" + config.string(),
                       "-localSocket=" + (m_dir / "s3.sock").string()};
    for (auto& node : m_nodes) {
        start(node);
    }
    wait_for_volumes(2, k_start_timeout);
    wait_for_s3_ready(k_start_timeout);
}

SeaweedCluster::~SeaweedCluster() {
    stop();
}

void SeaweedCluster::start(Node& node) {
    auto log =
        util::open_fd((m_dir / (node.name + ".log")).string(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    REQUIRE(log);
    node.log = std::move(*log);
    util::SpawnOptions o;
    o.argv = node.argv;
    o.env = base_environment();
    o.cwd = (m_dir / node.name).string();
    o.stdout_fd = node.log.get();
    o.stderr_fd = node.log.get();
    o.kill_grace = k_stop_grace;
    auto child = util::Child::spawn(o);
    if (!child) {
        FAIL(fmt::format("could not start weed {}: {}", node.name, child.error().message()));
    }
    node.child.emplace(std::move(*child));
}

std::string SeaweedCluster::endpoint() const {
    return fmt::format("http://127.0.0.1:{}", m_s3_port);
}

void SeaweedCluster::add_rclone_remote(Environment& env, const std::string& name,
                                       const Keys& keys) const {
    std::string prefix = "RCLONE_CONFIG_" + name + "_";
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), ::toupper);
    env[prefix + "TYPE"] = "s3";
    env[prefix + "PROVIDER"] = "SeaweedFS";
    env[prefix + "ENDPOINT"] = endpoint();
    env[prefix + "ACCESS_KEY_ID"] = keys.access_key;
    env[prefix + "SECRET_ACCESS_KEY"] = keys.secret_key;
}

int SeaweedCluster::volume_servers_listed() const {
    util::HttpRequest request{"GET", "/dir/status", {}, {}};
    auto response = util::http_request("127.0.0.1", m_master_port, request, 5s);
    if (!response || response->status != 200) {
        return -1;
    }
    auto json = nlohmann::json::parse(response->body, nullptr, false);
    if (json.is_discarded()) {
        return -1;
    }
    int count = 0;
    for (const auto& dc : json["Topology"]["DataCenters"]) {
        for (const auto& rack : dc["Racks"]) {
            count += static_cast<int>(rack["DataNodes"].size());
        }
    }
    return count;
}

void SeaweedCluster::wait_for_volumes(int count, std::chrono::milliseconds timeout) const {
    auto deadline = Clock::now() + timeout;
    int listed = -1;
    while ((listed = volume_servers_listed()) != count) {
        if (Clock::now() > deadline) {
            FAIL(fmt::format("the SeaweedFS master lists {} volume servers, not {}, after {} ms; "
                             "see the logs in {}",
                             listed, count, timeout.count(), m_dir.string()));
        }
        std::this_thread::sleep_for(100ms);
    }
}

// Ready when the gateway has made the bucket and taken an object (a write reaches a volume
// server), with the read-write key; the probe object is deleted again.
void SeaweedCluster::wait_for_s3_ready(std::chrono::milliseconds timeout) {
    Environment env = base_environment();
    add_rclone_remote(env, "seaweed", m_read_write);
    std::string rclone = require_program("rclone");
    std::string probe = fmt::format("seaweed:{}/.probe", m_bucket);
    auto deadline = Clock::now() + timeout;
    ProcessResult last;
    while (true) {
        last = run_cmd(
            {rclone, "mkdir", "--retries", "1", "--low-level-retries", "1", "seaweed:" + m_bucket},
            env);
        if (last.success()) {
            last = run_cmd({rclone, "rcat", "--retries", "1", "--low-level-retries", "1", probe},
                           env, std::string("probe\n"));
        }
        if (last.success()) {
            break;
        }
        if (Clock::now() > deadline) {
            FAIL(fmt::format("the SeaweedFS S3 gateway on port {} did not take a write within {} "
                             "ms: {}\n{}see the logs in {}",
                             m_s3_port, timeout.count(), last.describe(), last.err,
                             m_dir.string()));
        }
        std::this_thread::sleep_for(200ms);
    }
    auto deleted = run_cmd({rclone, "deletefile", probe}, env);
    INFO(deleted.err);
    REQUIRE(deleted.success());
}

void SeaweedCluster::stop_volume(int index) {
    Node& node = m_nodes.at(1 + index);
    REQUIRE(node.child);
    REQUIRE(node.child->terminate());
    node.child.reset();
    wait_for_volumes(1, k_start_timeout);
}

void SeaweedCluster::start_volume(int index) {
    Node& node = m_nodes.at(1 + index);
    REQUIRE_FALSE(node.child);
    start(node);
    wait_for_volumes(2, k_start_timeout);
}

void SeaweedCluster::stop() {
    // TERM to every process at once, the S3 gateway first; each gets the grace, then KILL.
    for (auto it = m_nodes.rbegin(); it != m_nodes.rend(); ++it) {
        if (it->child && it->child->running()) {
            it->child->stop();
        }
    }
    for (auto it = m_nodes.rbegin(); it != m_nodes.rend(); ++it) {
        if (it->child) {
            (void)it->child->wait();
            it->child.reset();
        }
    }
}

} // namespace backup::test
