// restic-audit over a remote primary (issue 18): restic backs up straight to a bucket on a store
// the toolkit does not run; the client's client.yaml names the remote and its secrets/rclone.conf
// holds a read-only key. N runs with the fraction 1/N hash every object exactly once (counted in
// the store's own request log), a byte flipped behind restic's back is found by the run whose
// slot holds it, and with a SeaweedFS volume server stopped a run fails with 111, never with a
// finding.
#include <catch2/catch.hpp>

#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "audit/remote.hpp"
#include "audit/selection.hpp"
#include "model/repository.hpp"
#include "support/fixtures.hpp"
#include "support/seaweedfs.hpp"
#include "util/fs.hpp"
#include "util/http.hpp"
#include "util/json.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"
#include "util/sigv4.hpp"
#include "util/time.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

struct Keys {
    std::string access_key;
    std::string secret_key;
};

std::string rclone_section(const std::string& name, const std::string& provider,
                           const std::string& endpoint, const Keys& keys) {
    return fmt::format("[{}]\ntype = s3\nprovider = {}\nendpoint = {}\naccess_key_id = {}\n"
                       "secret_access_key = {}\nregion = us-east-1\n",
                       name, provider, endpoint, keys.access_key, keys.secret_key);
}

// versitygw with its own IAM (--iam-dir): the root key is the client's read-write key, and the
// account "auditro", granted only s3:GetObject and s3:ListBucket on the bucket by a bucket
// policy, is the server side's read-only key. Every request is one line of its log.
class ReadOnlyVersitygw {
public:
    explicit ReadOnlyVersitygw(const fs::path& work)
        : m_work(work),
          m_port(free_port()), m_root{"rootkey", random_key()}, m_read_only{"auditro",
                                                                            random_key()} {
        fs::create_directories(work / "vgw-data");
        fs::create_directories(work / "vgw-iam");
        util::SpawnOptions o;
        o.env = base_environment();
        o.env["ROOT_ACCESS_KEY_ID"] = m_root.access_key;
        o.env["ROOT_SECRET_ACCESS_KEY"] = m_root.secret_key;
        o.argv = {require_program("versitygw"),        "--port",
                  fmt::format("127.0.0.1:{}", m_port), "--iam-dir",
                  (work / "vgw-iam").string(),         "posix",
                  (work / "vgw-data").string()};
        m_process.emplace(o, work / "versitygw.log");
        wait_for_port(m_port, 20s, "versitygw");
        signed_request("PATCH", "/create-user", {},
                       fmt::format("<Account><Access>{}</Access><Secret>{}</Secret><Role>user"
                                   "</Role><UserID>0</UserID><GroupID>0</GroupID><ProjectID>0"
                                   "</ProjectID></Account>",
                                   m_read_only.access_key, m_read_only.secret_key));
        signed_request("PUT", "/" + bucket(), {}, "");
        signed_request("PUT", "/" + bucket(), {{"policy", ""}},
                       fmt::format(R"({{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",)"
                                   R"("Principal":"{}","Action":["s3:GetObject","s3:ListBucket"],)"
                                   R"("Resource":["arn:aws:s3:::{}","arn:aws:s3:::{}/*"]}}]}})",
                                   m_read_only.access_key, bucket(), bucket()));
    }

    std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", m_port); }
    std::string bucket() const { return "bkt"; }
    const Keys& read_write() const { return m_root; }
    const Keys& read_only() const { return m_read_only; }
    std::string log() const { return m_process->log(); }
    void stop() { m_process.reset(); }

private:
    static std::string random_key() {
        auto bytes = util::random_bytes(12);
        REQUIRE(bytes);
        return util::to_hex(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size());
    }

    // A request signed with the root key by this process: no secret on a command line.
    void signed_request(const std::string& method, const std::string& path,
                        const std::map<std::string, std::string>& query, const std::string& body) {
        util::SigV4Request sign;
        sign.method = method;
        sign.path = path;
        sign.query = query;
        sign.payload_sha256 = util::sha256_hex(body);
        std::string amz_date = util::format_compact_time(util::unix_now());
        sign.headers["host"] = fmt::format("127.0.0.1:{}", m_port);
        sign.headers["x-amz-date"] = amz_date;
        sign.headers["x-amz-content-sha256"] = sign.payload_sha256;
        util::SigV4Credentials credentials{m_root.access_key, m_root.secret_key, "us-east-1", "s3"};
        util::HttpRequest request;
        request.method = method;
        std::string canonical_query = util::sigv4_canonical_query(query);
        request.target = path + (canonical_query.empty() ? "" : "?" + canonical_query);
        request.headers = sign.headers;
        request.headers["authorization"] = util::sigv4_authorization(sign, credentials, amz_date);
        request.body = body;
        auto response = util::http_request("127.0.0.1", m_port, request);
        REQUIRE(response);
        INFO(method << " " << path << ": " << response->body);
        REQUIRE(response->status / 100 == 2);
    }

    fs::path m_work;
    int m_port = 0;
    Keys m_root;
    Keys m_read_only;
    std::optional<ServerProcess> m_process;
};

// A server root with one client, web1, whose primary is the remote store:PATH; its
// secrets/rclone.conf (0600) holds only the read-only key. rclone_rw reaches the same store with
// the read-write key, for what the test does behind restic's back.
class RemoteClient {
public:
    RemoteClient(const fs::path& work, const std::string& path, const std::string& read_only,
                 const std::string& read_write)
        : m_root(work / "backups"), m_remote("store:" + path) {
        fs::path client = m_root / "systems/web1";
        fs::create_directories(client / "conf");
        fs::create_directories(client / "state");
        REQUIRE(util::make_directories((client / "secrets").string(), 0700));
        REQUIRE(util::atomic_write(
            (client / "conf/client.yaml").string(),
            fmt::format("schema: 1\nhost: web1\nremote_repository: {}\n", m_remote), 0644));
        REQUIRE(util::atomic_write((client / "secrets/rclone.conf").string(), read_only, 0600));
        m_rw_config = work / "rclone-rw.conf";
        REQUIRE(util::atomic_write(m_rw_config.string(), read_write, 0600));
    }

    ProcessResult audit(std::vector<std::string> args) const {
        args.insert(args.begin(),
                    {tools_dir() + "/restic-audit", "--root", m_root.string(), "--client", "web1"});
        return run_cmd(std::move(args), base_environment());
    }

    util::Json status() const {
        auto json =
            util::read_json_file((m_root / "systems/web1/state/audit-repository.json").string());
        REQUIRE(json);
        return *json;
    }

    ProcessResult rclone_rw(std::vector<std::string> args,
                            std::optional<std::string> input = {}) const {
        Environment env = base_environment();
        env["RCLONE_CONFIG"] = m_rw_config.string();
        args.insert(args.begin(), require_program("rclone"));
        return run_cmd(std::move(args), env, std::move(input));
    }

    // The content-addressed objects of the repository, relative, sorted.
    std::vector<std::string> objects() const {
        auto listed = rclone_rw({"lsf", "-R", "--files-only", m_remote});
        INFO(listed.err);
        REQUIRE(listed.success());
        std::vector<std::string> out;
        std::istringstream in(listed.out);
        for (std::string line; std::getline(in, line);) {
            if (core::is_content_addressed(core::classify_repository_path(line))) {
                out.push_back(line);
            }
        }
        return out;
    }

    // Flips one byte of the object relative, rewriting it with the read-write key.
    void flip_byte(const std::string& relative) const {
        auto read = rclone_rw({"cat", m_remote + "/" + relative});
        REQUIRE(read.success());
        std::string content = read.out;
        REQUIRE(content.size() > 100);
        content[content.size() / 2] = static_cast<char>(content[content.size() / 2] ^ 0x01);
        auto wrote = rclone_rw({"rcat", m_remote + "/" + relative}, content);
        INFO(wrote.err);
        REQUIRE(wrote.success());
    }

    const std::string& remote() const { return m_remote; }

private:
    fs::path m_root;
    std::string m_remote;
    fs::path m_rw_config;
};

ResticClient s3_client(const fs::path& dir, const std::string& endpoint, const std::string& path,
                       const Keys& keys) {
    auto client = make_restic_client(dir, fmt::format("s3:{}/{}", endpoint, path));
    client.env["AWS_ACCESS_KEY_ID"] = keys.access_key;
    client.env["AWS_SECRET_ACCESS_KEY"] = keys.secret_key;
    return client;
}

// init and rounds backups, each adding packs, an index and a snapshot.
void backup_rounds(ResticClient& client, const fs::path& source, int rounds) {
    client.run({"init"});
    make_sample_tree(source);
    for (int round = 0; round < rounds; ++round) {
        auto bytes = util::random_bytes(200 * 1024);
        REQUIRE(bytes);
        REQUIRE(util::atomic_write((source / fmt::format("round-{}.bin", round)).string(), *bytes,
                                   0644));
        client.run({"backup", source.string()});
    }
}

// The first data pack in slot of a cycle of length.
std::string pack_in_slot(const std::vector<std::string>& objects, int length, int slot) {
    for (const auto& o : objects) {
        if (o.starts_with("data/") && core::audit_slot(core::path_file_name(o), length) == slot) {
            return o;
        }
    }
    return {};
}

std::uintmax_t volume_bytes(const fs::path& dir) {
    std::uintmax_t total = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".dat") {
            total += entry.file_size();
        }
    }
    return total;
}

} // namespace

TEST_CASE("restic-audit over S3 with a read-only key: N runs hash each object once and find a "
          "flipped byte",
          "[restic-audit][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit-remote");
    REQUIRE(dir);
    {
        ReadOnlyVersitygw store(dir->path());
        RemoteClient h(dir->path(), store.bucket() + "/web1",
                       rclone_section("store", "Other", store.endpoint(), store.read_only()),
                       rclone_section("store", "Other", store.endpoint(), store.read_write()));
        auto client =
            s3_client(dir->path() / "client", store.endpoint(), "bkt/web1", store.read_write());
        backup_rounds(client, dir->path() / "source", 3);
        auto objects = h.objects();
        REQUIRE(objects.size() > 6);

        // The read-only key cannot write: what the audit holds cannot damage the repository.
        Environment ro = base_environment();
        ro["RCLONE_CONFIG"] = (dir->path() / "backups/systems/web1/secrets/rclone.conf").string();
        auto wrote = run_cmd({require_program("rclone"), "--retries", "1", "rcat",
                              "--s3-no-check-bucket", h.remote() + "/stray"},
                             ro, std::string("x"));
        CHECK_FALSE(wrote.success());

        constexpr int n = 3;
        std::size_t log_before = store.log().size();
        std::size_t hashed = 0;
        for (int run = 0; run < n; ++run) {
            auto r = h.audit({"--fraction", fmt::format("1/{}", n)});
            INFO(r.out << r.err);
            CHECK(r.exit_code() == 0);
            auto status = h.status();
            CHECK(status["cycle"]["position"] == run);
            CHECK(status["findings"].empty());
            hashed += status["files_checked"].get<std::size_t>();
        }
        CHECK(hashed == objects.size());
        // Each object was read exactly once over the N runs: one GET each in the store's log.
        std::string log = store.log().substr(log_before);
        for (const auto& o : objects) {
            INFO(o);
            CHECK(occurrences(log, fmt::format("| GET | /bkt/web1/{} |", o)) == 1);
        }
        auto coverage = h.status()["last_full_coverage"];
        CHECK(coverage.is_object());

        // A byte flipped behind restic's back: the run whose slot holds the pack finds it, and
        // only that run.
        std::string victim;
        int slot = 0;
        for (; slot < n && victim.empty(); ++slot) {
            victim = pack_in_slot(objects, n, slot);
        }
        --slot;
        REQUIRE_FALSE(victim.empty());
        h.flip_byte(victim);
        for (int run = 0; run < n; ++run) {
            auto r = h.audit({"--fraction", fmt::format("1/{}", n)});
            INFO(r.out << r.err);
            auto status = h.status();
            if (run == slot) {
                CHECK(r.exit_code() == 1);
                CHECK(r.err.find(victim + ": content (") != std::string::npos);
                REQUIRE(status["findings"].size() == 1);
                CHECK(status["findings"][0]["path"] == victim);
                CHECK(status["findings"][0]["kind"] == "hash_mismatch");
            } else {
                CHECK(r.exit_code() == 0);
                CHECK(status["findings"].empty());
            }
        }
        store.stop();
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-audit over SeaweedFS with the read-only identity: a stopped volume server is "
          "111, never a finding",
          "[restic-audit][remote][seaweedfs]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit-seaweed");
    REQUIRE(dir);
    {
        SeaweedCluster cluster(dir->path());
        auto keys = [](const SeaweedCluster::Keys& k) { return Keys{k.access_key, k.secret_key}; };
        RemoteClient h(
            dir->path(), cluster.bucket() + "/web1",
            rclone_section("store", "SeaweedFS", cluster.endpoint(), keys(cluster.read_only())),
            rclone_section("store", "SeaweedFS", cluster.endpoint(), keys(cluster.read_write())));
        auto client = s3_client(dir->path() / "client", cluster.endpoint(),
                                cluster.bucket() + "/web1", keys(cluster.read_write()));
        backup_rounds(client, dir->path() / "source", 4);
        auto objects = h.objects();

        constexpr int n = 2;
        std::size_t hashed = 0;
        for (int run = 0; run < n; ++run) {
            auto r = h.audit({"--fraction", fmt::format("1/{}", n)});
            INFO(r.out << r.err);
            CHECK(r.exit_code() == 0);
            CHECK(h.status()["findings"].empty());
            hashed += h.status()["files_checked"].get<std::size_t>();
        }
        CHECK(hashed == objects.size());

        // One volume server down: reads of what it holds fail (HTTP 500), which is the store's
        // failure, not damage. The weed processes cache chunks they have served, so the server
        // stopped is the one that took a new backup's packs, which nobody has read yet.
        fs::path data = dir->path() / "seaweedfs";
        auto before0 = volume_bytes(data / "volume0");
        auto before1 = volume_bytes(data / "volume1");
        auto fresh = util::random_bytes(400 * 1024);
        REQUIRE(fresh);
        REQUIRE(util::atomic_write((dir->path() / "source/fresh.bin").string(), *fresh, 0644));
        client.run({"backup", (dir->path() / "source").string()});
        int victim_volume =
            volume_bytes(data / "volume0") - before0 >= volume_bytes(data / "volume1") - before1
                ? 0
                : 1;
        cluster.stop_volume(victim_volume);
        auto down = h.audit({"--all"});
        INFO(down.out << down.err);
        std::cout << fmt::format("restic-audit with volume{} down: {} in {:.1f} s: {}\n",
                                 victim_volume, down.describe(), down.seconds,
                                 down.err.substr(0, down.err.find('\n')));
        CHECK(down.exit_code() == 111);
        CHECK(down.err.find("unable to read store:") != std::string::npos);
        CHECK(down.err.find("content (") == std::string::npos);
        CHECK(h.status()["findings"].empty());
        CHECK(h.status()["result"] == "error");
        cluster.start_volume(victim_volume);

        // Back up: the flipped byte is found by the run whose slot holds it.
        std::string victim = pack_in_slot(objects, n, 0);
        int slot = 0;
        if (victim.empty()) {
            victim = pack_in_slot(objects, n, 1);
            slot = 1;
        }
        REQUIRE_FALSE(victim.empty());
        h.flip_byte(victim);
        for (int run = 0; run < n; ++run) {
            auto r = h.audit({"--fraction", fmt::format("1/{}", n)});
            INFO(r.out << r.err);
            if (h.status()["cycle"]["position"] == slot) {
                CHECK(r.exit_code() == 1);
                CHECK(r.err.find(victim + ": content (") != std::string::npos);
            } else {
                CHECK(r.exit_code() == 0);
            }
        }
        cluster.stop();
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-audit's remote store: an object gone between listing and reading has vanished",
          "[restic-audit][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit-store");
    REQUIRE(dir);
    {
        // Any rclone remote will do: a local directory, through the same rclone rcd.
        fs::path repo = dir->path() / "repo";
        std::vector<std::string> names;
        for (std::string content : {"a pack", "a snapshot"}) {
            std::string id = util::sha256_hex(content);
            std::string relative = content == "a pack"
                                       ? fmt::format("data/{}/{}", id.substr(0, 2), id)
                                       : "snapshots/" + id;
            fs::create_directories((repo / relative).parent_path());
            REQUIRE(util::atomic_write((repo / relative).string(), content, 0644));
            names.push_back(relative);
        }
        fs::path config = dir->path() / "rclone.conf";
        REQUIRE(util::atomic_write(config.string(), "[disk]\ntype = local\n", 0600));
        auto store = core::RemoteAuditStore::open({"disk:" + repo.string(), config.string()},
                                                  require_program("rclone"));
        REQUIRE(store);
        auto listed = (*store)->list();
        REQUIRE(listed);
        REQUIRE(*listed);
        auto& entries = **listed;
        REQUIRE(entries.size() == 2);
        CHECK(entries[0].relative == names[0]);
        CHECK(entries[0].size == 6);

        CHECK((*store)->hash(entries[0]).outcome == core::HashOutcome::match);
        fs::remove(repo / entries[0].relative); // a prune, after the listing
        CHECK((*store)->hash(entries[0]).outcome == core::HashOutcome::vanished);
        REQUIRE(util::atomic_write((repo / entries[1].relative).string(), "b snapshot", 0644));
        auto changed = (*store)->hash(entries[1]);
        CHECK(changed.outcome == core::HashOutcome::mismatch);
        CHECK(changed.actual == util::sha256_hex("b snapshot"));

        auto missing = core::RemoteAuditStore::open(
            {"disk:" + (dir->path() / "none").string(), config.string()},
            require_program("rclone"));
        REQUIRE(missing);
        auto none = (*missing)->list();
        REQUIRE(none);
        CHECK_FALSE(*none); // no repository yet
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-audit over a remote: --max-bytes bounds what is downloaded and the rest waits",
          "[restic-audit][remote]") {
    auto dir = util::TempDir::create_in_tmp("e2e-audit-budget");
    REQUIRE(dir);
    {
        // A repository written by restic, read through an rclone remote on a local directory.
        fs::path repo = dir->path() / "repo";
        auto client = make_restic_client(dir->path() / "client", repo.string());
        backup_rounds(client, dir->path() / "source", 2);
        RemoteClient h(dir->path(), repo.string(), "[store]\ntype = local\n",
                       "[store]\ntype = local\n");
        auto objects = h.objects();
        std::uint64_t total = 0;
        for (const auto& o : objects) {
            total += fs::file_size(repo / o);
        }

        auto first = h.audit({"--fraction", "1/1", "--max-bytes", "1"});
        INFO(first.out << first.err);
        CHECK(first.exit_code() == 0);
        auto status = h.status();
        CHECK(status["files_checked"] == 1); // the first file always starts, nothing more
        CHECK(status["files_left"] == objects.size() - 1);
        CHECK(status["cycle"]["slot_finished"] == false);
        auto first_bytes = status["bytes_checked"].get<std::uint64_t>();

        auto rest = h.audit({"--fraction", "1/1"});
        INFO(rest.out << rest.err);
        CHECK(rest.exit_code() == 0);
        status = h.status();
        CHECK(status["files_checked"] == objects.size() - 1);
        // Every byte read once over the two runs, none twice.
        CHECK(status["bytes_checked"].get<std::uint64_t>() + first_bytes == total);
        CHECK(status["cycle"]["slot_finished"] == true);
        CHECK(status["last_full_coverage"].is_object());
    }
    require_no_processes(dir->path());
}
