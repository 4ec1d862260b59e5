// TLS on the storage servers, with the real new-restic-server, runsvdir, versitygw, rest-server,
// restic and restic-wrapper: a client on a host of its own (a network namespace) that has only
// the files the server handed out; clients that do not trust the server, stopped at once;
// certificates renewed and the CA rotated under running backups; and the per-client limits of a
// dedicated rest-server.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "model/runit.hpp"
#include "support/access.hpp"
#include "support/backup_server.hpp"
#include "support/network.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"
#include "util/tls.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Where clients run: a network namespace of their own when this machine allows one, so that
// they reach the server only over its public address; else this machine (on loopback).
struct ClientSide {
    std::optional<NetworkNamespace> ns;
    std::string server_address() const { return ns ? ns->server_address() : "127.0.0.1"; }
    std::vector<std::string> prefix() const {
        return ns ? ns->exec_prefix() : std::vector<std::string>();
    }
};

ClientSide client_side() {
    std::string why;
    ClientSide side{NetworkNamespace::create(why)};
    if (!side.ns) {
        WARN("clients run on this machine, over loopback: no network namespace (" << why << ")");
    }
    return side;
}

// The serial of the certificate the server at address:port serves, verified with ca_file.
std::string served_serial(const std::string& address, int port, const fs::path& ca_file) {
    auto probe = util::probe_tls(address, port, address, {ca_file.string()}, 10s);
    INFO((probe ? probe->verify_error : probe.error().message()));
    REQUIRE(probe);
    REQUIRE(probe->verified);
    return probe->served.serial;
}

// Waits until the server at address:port serves a certificate other than serial; returns it.
std::string wait_for_new_serial(const std::string& address, int port, const fs::path& ca_file,
                                const std::string& serial) {
    auto deadline = Clock::now() + 60s;
    while (true) {
        auto probe = util::probe_tls(address, port, address, {ca_file.string()}, 10s);
        if (probe && probe->verified && probe->served.serial != serial) {
            return probe->served.serial;
        }
        if (Clock::now() > deadline) {
            FAIL("the server on port " << port << " still serves certificate " << serial);
        }
        std::this_thread::sleep_for(100ms);
    }
}

// A client's restic-wrapper set-up: the environ the server made, with the password file and the
// CA file where this test keeps them, a wrapper config and a tree to back up.
struct WrapperClient {
    fs::path dir;
    fs::path environ_file;
    fs::path config;
    fs::path state;
    std::string environ_text; // as the server made it

    // Writes the environ with the CA file at ca_file and RESTIC_REPOSITORY's host replaced by
    // host (empty: as made).
    void write_environ(const fs::path& ca_file, const std::string& from = {},
                       const std::string& to = {}) const {
        std::string text = environ_text;
        auto replace = [&](const std::string& a, const std::string& b) {
            for (auto at = text.find(a); at != std::string::npos;
                 at = text.find(a, at + b.size())) {
                text.replace(at, a.size(), b);
            }
        };
        replace("/etc/restic/repo-password", (dir / "repo-password").string());
        replace("/etc/restic/backup-ca.pem", ca_file.string());
        if (!from.empty()) {
            replace(from, to);
        }
        text += fmt::format("export RESTIC_CACHE_DIR={}\n", (dir / "cache").string());
        write_file(environ_file, text, 0600);
    }
    ProcessResult run(const std::vector<std::string>& args) const {
        std::vector<std::string> argv = {fs::path(tools_dir()) / "restic-wrapper",
                                         "--wrapper-environ", environ_file.string(),
                                         "--wrapper-config", config.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_cmd(argv, base_environment());
    }
    // The last daily run's errors, joined.
    std::string errors() const {
        auto json = util::read_json_file((state / "status.json").string());
        REQUIRE(json);
        std::string out;
        for (const auto& e : (*json)["last_attempt"]["errors"]) {
            out += e.get<std::string>() + "\n";
        }
        return out;
    }
};

WrapperClient make_wrapper_client(const BackupServer& server, const std::string& host,
                                  const fs::path& dir) {
    WrapperClient c;
    c.dir = dir;
    c.environ_file = dir / "environ";
    c.config = dir / "restic-wrapper.yaml";
    c.state = dir / "state";
    auto text = util::read_file((server.client_dir(host) / "client/environ").string());
    REQUIRE(text);
    c.environ_text = *text;
    write_file(dir / "repo-password", "a password for the test\n", 0600);
    write_file(dir / "tree/etc/app.conf", "setting = 1\n");
    write_file(dir / "include-files", "/etc\n");
    write_file(dir / "exclude-files", "");
    write_file(c.config,
               fmt::format("include_file: {}\nexclude_file: {}\nroot: {}\nhost: {}\n"
                           "state_dir: {}\n",
                           (dir / "include-files").string(), (dir / "exclude-files").string(),
                           (dir / "tree").string(), host, c.state.string()));
    c.write_environ(server.client_dir(host) / "client/backup-ca.pem");
    return c;
}

// A CA certificate of somebody else's.
fs::path other_ca(const fs::path& dir) {
    auto key = util::generate_private_key();
    REQUIRE(key);
    auto ca = util::make_ca_certificate(*key, "restic backup server CA", 24h);
    REQUIRE(ca);
    write_file(dir / "other-ca.pem", *ca);
    return dir / "other-ca.pem";
}

util::Json status_json(const BackupServer& server, int want_exit) {
    auto r = run_cmd(
        {fs::path(tools_dir()) / "backup-status", "--root", server.root().string(), "--json"},
        base_environment());
    INFO(r.out << r.err);
    if (want_exit >= 0) {
        CHECK(r.exit_code() == want_exit);
    }
    return util::Json::parse(r.out);
}

util::Json client_status(const util::Json& status, const std::string& host) {
    for (const auto& c : status["clients"]) {
        if (c["host"] == host) {
            return c;
        }
    }
    FAIL("no client " << host << " in the status");
    return {};
}

} // namespace

TEST_CASE("tls: a client on a host of its own backs up and restores over https with the files "
          "it was given",
          "[tls]") {
    auto dir = util::TempDir::create_in_tmp("e2e-tls");
    REQUIRE(dir);
    ClientSide side = client_side();
    {
        BackupServer server(dir->path(), "topology: shared\n", side.server_address());
        // The shared versitygw must run for its users to be made.
        server.start();
        struct Host {
            std::string name;
            std::string kind;
            std::string topology;
        };
        std::vector<Host> hosts = {{"ded-vgw", "versitygw", "dedicated"},
                                   {"ded-rest", "rest-server", "dedicated"},
                                   {"sh-vgw", "versitygw", "shared"},
                                   {"sh-rest", "rest-server", "shared"}};
        for (const auto& h : hosts) {
            auto config = server.provision(h.name, h.kind, {"--topology", h.topology});
            CHECK(config.tls);
            CHECK(config.address == side.server_address());
            // The CA file the client needs, and nothing secret in it.
            auto ca =
                util::read_file((server.client_dir(h.name) / "client/backup-ca.pem").string());
            REQUIRE(ca);
            CHECK(ca->find("PRIVATE KEY") == std::string::npos);
            CHECK(*ca == *util::read_file(server.ca_file().string()));
        }
        // The shared instances' certificate names the server's address, not another one.
        auto elsewhere = server.new_restic_server(
            {"-H", "sh-other", "--server", "versitygw", "--address", "backup.example.com"});
        INFO(elsewhere.out << elsewhere.err);
        CHECK(elsewhere.exit_code() == 100);
        CHECK(elsewhere.err.find("tls.names") != std::string::npos);
        CHECK_FALSE(fs::exists(server.client_dir("sh-other")));
        for (const auto& h : hosts) {
            server.enable(h.name);
        }
        for (const auto& h : hosts) {
            server.wait_for_storage(h.name);
        }
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        for (const auto& h : hosts) {
            INFO(h.name);
            auto client = server.client(h.name);
            client.prefix = side.prefix();
            CHECK(client.env.at("RESTIC_REPOSITORY").find("https://" + side.server_address()) !=
                  std::string::npos);
            CHECK(client.env.contains("RESTIC_CACERT"));
            client.run({"init"});
            client.run({"backup", source.string()});
            fs::path target = dir->path() / "restore" / h.name;
            client.run({"restore", "latest", "--target", target.string()});
            auto differences = compare_trees(source, target / source.relative_path());
            INFO(fmt::format("{}", fmt::join(differences, "\n")));
            CHECK(differences.empty());
        }

        // The same requests in plain HTTP get nothing from the TLS ports, even with the right
        // credentials.
        for (const auto& h : hosts) {
            INFO(h.name);
            auto config = server.client_config(h.name);
            config.tls = false;
            fs::create_directories(dir->path() / "probe");
            auto attempts = client_attempts(server.client(h.name).env, config,
                                            dir->path() / "probe", Probes::read_only);
            CHECK(successful(attempts).empty());
        }

        // The shared versitygw's admin API is not on its S3 port, where the clients connect:
        // only on a socket in its 0700 secrets directory.
        fs::path secrets = server.shared_dir("versitygw") / "secrets";
        auto access = util::read_file((secrets / "versitygw.env/ROOT_ACCESS_KEY_ID").string());
        auto secret = util::read_file((secrets / "versitygw.env/ROOT_SECRET_ACCESS_KEY").string());
        REQUIRE(access);
        REQUIRE(secret);
        auto line = [](const std::string& text) { return text.substr(0, text.find('\n')); };
        auto admin_request = [&](std::vector<std::string> argv,
                                 const std::vector<std::string>& where, const std::string& url) {
            for (const auto& a :
                 std::vector<std::string>{require_program("curl"), "-K", "-", "-s", "-X", "PATCH",
                                          "-w", "\nHTTP %{http_code}"}) {
                argv.push_back(a);
            }
            argv.insert(argv.end(), where.begin(), where.end());
            argv.push_back(url);
            // The root keys travel in curl's config on stdin.
            std::string config =
                fmt::format("user = \"{}:{}\"\naws-sigv4 = \"aws:amz:us-east-1:s3\"\n"
                            "header = \"x-amz-content-sha256: {}\"\n",
                            line(*access), line(*secret), util::sha256_hex(""));
            return run_cmd(argv, base_environment(), config);
        };
        auto sh_vgw = server.client_config("sh-vgw");
        auto over_network = admin_request(
            side.prefix(),
            {"--cacert", (server.client_dir("sh-vgw") / "client/backup-ca.pem").string()},
            sh_vgw.endpoint() + "/list-users");
        INFO(over_network.out << over_network.err);
        CHECK(over_network.out.find("HTTP 200") == std::string::npos);
        auto sh_access = server.client("sh-vgw").env.at("AWS_ACCESS_KEY_ID");
        CHECK(over_network.out.find(sh_access) == std::string::npos);
        // On the socket, from this machine (outside any namespace).
        auto on_socket = admin_request({}, {"--unix-socket", (secrets / "admin.sock").string()},
                                       "http://localhost/list-users");
        INFO(on_socket.out << on_socket.err);
        CHECK(on_socket.out.find("HTTP 200") != std::string::npos);
        CHECK(on_socket.out.find(sh_access) != std::string::npos);
    }
    require_no_processes(dir->path());
}

TEST_CASE("tls: restic-wrapper stops at once with exit 100 when the client does not trust the "
          "server",
          "[tls][restic-wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-tls-trust");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        server.provision("web1", "rest-server");
        server.start();
        server.enable("web1");
        server.wait_for_storage("web1");
        auto c = make_wrapper_client(server, "web1", dir->path() / "client");
        auto init = c.run({"init"});
        INFO(init.out << init.err);
        REQUIRE(init.success());
        auto good = c.run({"--daily"});
        INFO(good.out << good.err);
        REQUIRE(good.exit_code() == 0);

        struct Case {
            std::string what;
            std::function<void()> set_up;
            std::string reason; // in the recorded error
        };
        fs::path missing = dir->path() / "client/no-such-ca.pem";
        std::vector<Case> cases = {
            {"the CA file is missing", [&] { c.write_environ(missing); }, missing.string()},
            {"another CA", [&] { c.write_environ(other_ca(dir->path())); },
             "certificate does not verify"},
            {"a name the certificate does not carry",
             [&] {
                 c.write_environ(server.client_dir("web1") / "client/backup-ca.pem",
                                 "https://127.0.0.1:", "https://localhost:");
             },
             "certificate does not verify"},
        };
        for (const auto& test : cases) {
            INFO(test.what);
            test.set_up();
            auto started = Clock::now();
            auto r = c.run({"--daily"});
            auto took = Clock::now() - started;
            INFO(r.out << r.err);
            CHECK(r.exit_code() == 100);
            // Not restic's quarter of an hour of retries.
            CHECK(took < 60s);
            CHECK(c.errors().find(test.reason) != std::string::npos);
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("tls: certificates are renewed and the CA rotated while backups run", "[tls]") {
    auto dir = util::TempDir::create_in_tmp("e2e-tls-renew");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        auto vgw = server.provision("vgw", "versitygw");
        auto rest = server.provision("rest", "rest-server");
        server.start();
        server.enable("vgw");
        server.enable("rest");
        server.wait_for_storage("vgw");
        server.wait_for_storage("rest");
        fs::path ca = server.ca_file();
        std::string vgw_serial = served_serial(vgw.address, vgw.port, ca);
        std::string rest_serial = served_serial(rest.address, rest.port, ca);
        pid_t vgw_pid =
            core::read_supervise_status(server.client_dir("vgw") / "conf/runsvs/versitygw")
                .value()
                .pid;
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        auto client = server.client("vgw");
        client.run({"init"});

        // Backups one after the other while the certificates are renewed.
        std::atomic<bool> stop{false};
        std::atomic<std::size_t> finished{0};
        std::vector<ProcessResult> backups; // the loop's until it is joined
        std::thread loop([&] {
            while (!stop) {
                backups.push_back(client.try_run({"backup", source.string()}));
                ++finished;
            }
        });
        auto renew = server.new_restic_server({"--renew-certs"});
        std::string new_vgw_serial = wait_for_new_serial(vgw.address, vgw.port, ca, vgw_serial);
        std::string new_rest_serial = wait_for_new_serial(rest.address, rest.port, ca, rest_serial);
        // One more backup starts after the new certificate is served.
        auto wanted = finished + 2;
        while (finished < wanted) {
            std::this_thread::sleep_for(50ms);
        }
        stop = true;
        loop.join();
        INFO(renew.out << renew.err);
        CHECK(renew.success());
        CHECK(renew.out.find("Renewed the certificate of vgw") != std::string::npos);
        CHECK(renew.out.find("Renewed the certificate of rest") != std::string::npos);
        for (const auto& b : backups) {
            INFO(b.out << b.err);
            CHECK(b.success());
        }
        // versitygw took its new certificate without a restart.
        CHECK(core::read_supervise_status(server.client_dir("vgw") / "conf/runsvs/versitygw")
                  .value()
                  .pid == vgw_pid);

        // A new CA: the clients' CA files trust both, the servers keep their certificates.
        auto rotate = server.new_restic_server({"--rotate-ca"});
        INFO(rotate.out << rotate.err);
        REQUIRE(rotate.success());
        CHECK(rotate.out.find("scp " +
                              (server.client_dir("vgw") / "client/backup-ca.pem").string()) !=
              std::string::npos);
        fs::path old_ca = dir->path() / "old-ca.pem";
        write_file(old_ca, *util::read_file((server.root() / "tls/ca-previous.pem").string()));
        fs::path both = server.client_dir("vgw") / "client/backup-ca.pem";
        CHECK(served_serial(vgw.address, vgw.port, both) == new_vgw_serial);
        CHECK(served_serial(vgw.address, vgw.port, old_ca) == new_vgw_serial);
        // After the renewal the new CA signs them: the old CA alone no longer does.
        auto again = server.new_restic_server({"--renew-certs"});
        INFO(again.out << again.err);
        REQUIRE(again.success());
        wait_for_new_serial(vgw.address, vgw.port, both, new_vgw_serial);
        wait_for_new_serial(rest.address, rest.port, both, new_rest_serial);
        CHECK(served_serial(vgw.address, vgw.port, ca) != new_vgw_serial);
        auto old_only = util::probe_tls(vgw.address, vgw.port, vgw.address, {old_ca.string()}, 10s);
        REQUIRE(old_only);
        CHECK_FALSE(old_only->verified);
        client.run({"snapshots"});
    }
    require_no_processes(dir->path());
}

TEST_CASE("tls: backup-status says when a certificate is about to expire", "[tls][backup-status]") {
    auto dir = util::TempDir::create_in_tmp("e2e-tls-status");
    REQUIRE(dir);
    {
        BackupServer server(dir->path(), "tls:\n  validity: 10d\n");
        server.provision("web1", "rest-server");
        server.start();
        server.enable("web1");
        // New (no repository yet) and its services up: nothing else is wrong with it.
        util::Json web1;
        auto deadline = Clock::now() + 60s;
        while (true) {
            web1 = client_status(status_json(server, -1), "web1");
            std::string kinds;
            for (const auto& p : web1["problems"]) {
                kinds += p["kind"].get<std::string>() + " ";
            }
            if (kinds == "certificate ") {
                break;
            }
            if (Clock::now() > deadline) {
                FAIL("backup-status never showed only the certificate problem: " << web1.dump());
            }
            std::this_thread::sleep_for(200ms);
        }
        CHECK(web1["tls"] == true);
        CHECK(web1["ok"] == false);
        REQUIRE(web1["certificate_expires"].is_number());
        std::string problems = web1["problems"].dump();
        INFO(problems);
        CHECK(problems.find("expires in") != std::string::npos);
        CHECK(problems.find("--renew-certs -H web1") != std::string::npos);

        // Once the certificate is old enough not to be racy, backup-status remembers its expiry
        // instead of parsing it each run; a renewed certificate must still be read.
        std::string cert = (server.root() / "systems/web1/conf/tls/cert.pem").string();
        auto cached = [&] {
            auto cache = util::read_file((server.root() / "status/certificates.json").string());
            return cache && cache->find(cert) != std::string::npos;
        };
        auto until_cached = Clock::now() + 60s;
        while (!cached() && Clock::now() < until_cached) {
            std::this_thread::sleep_for(200ms);
            status_json(server, -1);
        }
        REQUIRE(cached());
        CHECK(client_status(status_json(server, -1), "web1")["certificate_expires"] ==
              web1["certificate_expires"]);

        auto text = *util::read_file(server.config_file().string());
        text.replace(text.find("validity: 10d"), 13, "validity: 365d");
        write_file(server.config_file(), text);
        auto renew = server.new_restic_server({"--renew-certs", "-H", "web1"});
        INFO(renew.out << renew.err);
        REQUIRE(renew.success());
        // Restarted with its new certificate: the port may still be the old process's for a
        // moment, so wait for what the status says, not for the port.
        util::Json renewed;
        auto until = Clock::now() + 60s;
        do {
            std::this_thread::sleep_for(100ms);
            renewed = client_status(status_json(server, -1), "web1");
        } while (renewed["ok"] != true && Clock::now() < until);
        INFO(renewed.dump());
        CHECK(renewed["ok"] == true);
        CHECK(renewed["state"] == "new");
        CHECK(renewed["certificate_expires"].get<std::int64_t>() >
              web1["certificate_expires"].get<std::int64_t>());
        status_json(server, 0);
    }
    require_no_processes(dir->path());
}

TEST_CASE("rest-server limits: append-only refuses deletion, a quota refuses what is over it",
          "[tls][new-restic-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-limits");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        CHECK(server.provision("keep", "rest-server", {"--append-only"}).append_only);
        auto full = server.provision("full", "rest-server", {"--quota", "8M"});
        CHECK(full.quota == 8u * 1024 * 1024);
        // Limits are for a dedicated rest-server, which enforces them.
        auto refused =
            server.new_restic_server({"-H", "other", "--server", "versitygw", "--append-only"});
        CHECK(refused.exit_code() == 100);
        CHECK_FALSE(fs::exists(server.client_dir("other")));
        server.start();
        server.enable("keep");
        server.enable("full");
        server.wait_for_storage("keep");
        server.wait_for_storage("full");

        fs::path source = dir->path() / "source";
        write_file(source / "a", "first\n");
        auto keep = server.client("keep");
        keep.run({"init"});
        keep.run({"backup", source.string()});
        write_file(source / "a", "second\n");
        keep.run({"backup", source.string()});
        (void)keep.try_run({"forget", "--keep-last", "1"});
        CHECK(snapshot_count(keep) == 2);
        auto off = server.new_restic_server({"-H", "keep", "--set-append-only", "off"});
        INFO(off.out << off.err);
        REQUIRE(off.success());
        server.wait_for_storage("keep");
        keep.run({"forget", "--keep-last", "1"});
        CHECK(snapshot_count(keep) == 1);
        CHECK_FALSE(server.client_config("keep").append_only);

        // Over the quota the server refuses the upload; under it, it takes it. A rest-server
        // counts the size of the repository's directories too (256 data directories are 1 MiB on
        // ext4), but only those there when it starts: the quota is changed after the repository
        // is made, so that it counts them.
        auto fullc = server.client("full");
        fullc.run({"init"});
        pid_t serving = server.storage_pid("full");
        auto lowered = server.new_restic_server({"-H", "full", "--set-quota", "1152K"});
        INFO(lowered.out << lowered.err);
        REQUIRE(lowered.success());
        server.wait_for_restarted_storage("full", serving);
        auto upload = [&](std::size_t bytes) {
            fs::path blob = dir->path() / "blob";
            std::string content(bytes, 'x');
            write_file(blob, content);
            std::string curl_config = fmt::format(
                "user = \"{}:{}\"\ncacert = \"{}\"\n", fullc.env.at("RESTIC_REST_USERNAME"),
                fullc.env.at("RESTIC_REST_PASSWORD"), fullc.env.at("RESTIC_CACERT"));
            auto r =
                run_cmd({require_program("curl"), "-K", "-", "-sS", "-o", "/dev/null", "-w",
                         "%{http_code}", "--data-binary", "@" + blob.string(),
                         full.endpoint() + "/" + full.user + "/data/" + util::sha256_hex(content)},
                        base_environment(), curl_config);
            // No HTTP status: what curl said, so that a failure shows why.
            return r.out == "000" ? fmt::format("000 ({}: {})", r.describe(), r.err) : r.out;
        };
        CHECK(upload(768 * 1024) == "507");
        CHECK(upload(1024) == "200");
        // backup-status shows what the server counts against the quota (it is not ok: it has no
        // snapshot yet, and uses most of its quota).
        auto full_status = client_status(status_json(server, 1), "full");
        CHECK(full_status["quota_bytes"] == 1152 * 1024);
        auto used = full_status["quota_used_bytes"].get<std::int64_t>();
        CHECK(used > 1024 * 1024);
        CHECK(used < 1152 * 1024);
        CHECK(full_status["problems"].dump().find("of its quota") != std::string::npos);
        serving = server.storage_pid("full");
        auto raised = server.new_restic_server({"-H", "full", "--set-quota", "4M"});
        INFO(raised.out << raised.err);
        REQUIRE(raised.success());
        server.wait_for_restarted_storage("full", serving);
        CHECK(upload(768 * 1024 + 1) == "200");
        CHECK(server.client_config("full").quota == 4u * 1024 * 1024);
    }
    require_no_processes(dir->path());
}
