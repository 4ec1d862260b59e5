#include "support/backup_server.hpp"

#include <sstream>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/environ.hpp"
#include "util/random.hpp"

namespace backup::test {

using namespace std::chrono_literals;

namespace {

// Tests run in parallel, each with its own server root and clients of the same names: each root
// gets its own prefix for its clients' system users.
std::string unique_user_prefix() {
    auto random = util::random_token(6, "abcdefghijklmnopqrstuvwxyz0123456789");
    REQUIRE(random);
    return "t" + *random + "-";
}

} // namespace

BackupServer::BackupServer(const fs::path& work, std::string extra_config, std::string address)
    : m_work(work), m_root(work / "root"), m_bin(work / "bin"), m_config_file(work / "server.yaml"),
      m_address(std::move(address)), m_user_prefix(unique_user_prefix()) {
    ::chmod(work.c_str(), 0755);
    fs::create_directories(m_root);
    fs::create_directories(m_bin);
    for (const auto& program : {require_program("versitygw"), require_program("rest-server")}) {
        fs::copy_file(program, m_bin / fs::path(program).filename());
    }
    for (const auto* tool : {"backup-syncd", "restic-replicate"}) {
        fs::path built = fs::path(tools_dir()) / tool;
        REQUIRE(fs::exists(built));
        fs::copy_file(built, m_bin / tool);
    }
    fs::permissions(m_bin, fs::perms(0755));
    // Tests run in parallel, each with its own server root: give each its own port range, so
    // two roots do not hand out the same port before either server listens. The ranges stay
    // below the kernel's ephemeral ports (32768 and up), which every fixture that binds port 0
    // and every outgoing connection takes: such a listener on a client's port made its storage
    // server fail to bind while the test's wait for the port succeeded.
    auto random = util::random_bytes(2);
    REQUIRE(random);
    int port_base = 20000 + (static_cast<unsigned char>((*random)[0]) * 256 +
                             static_cast<unsigned char>((*random)[1])) %
                                (32768 - 20000 - 1000);
    std::string text = fmt::format(
        "root: {root}\n"
        "listen_address: {address}\n"
        "public_address: {address}\n"
        "ports: {{min: {min}, max: {max}}}\n"
        "owner: {{user: nobody, group: nogroup}}\n"
        "{users}"
        "binaries:\n"
        "  versitygw: {bin}/versitygw\n"
        "  rest-server: {bin}/rest-server\n"
        "  backup-syncd: {bin}/backup-syncd\n"
        "  restic-replicate: {bin}/restic-replicate\n"
        "{extra}",
        fmt::arg("root", m_root.string()), fmt::arg("address", m_address),
        fmt::arg("bin", m_bin.string()), fmt::arg("extra", extra_config),
        fmt::arg("min", port_base), fmt::arg("max", port_base + 999),
        fmt::arg("users", extra_config.find("client_users:") == std::string::npos
                              ? fmt::format("client_users: {{prefix: {}}}\n", m_user_prefix)
                              : std::string()));
    REQUIRE(util::atomic_write(m_config_file.string(), text, 0644));
}

BackupServer::~BackupServer() {
    if (m_tree) {
        m_tree->stop();
    }
    // The clients' own system users live outside the work directory: none outlives the test.
    for (const auto& user : client_users()) {
        run_cmd({"/usr/sbin/userdel", user}, base_environment());
        run_cmd({"/usr/sbin/groupdel", user}, base_environment());
    }
}

std::vector<std::string> BackupServer::client_users() const {
    std::vector<std::string> users;
    auto text = util::read_file("/etc/passwd");
    if (!text) {
        return users;
    }
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(m_user_prefix)) {
            users.push_back(line.substr(0, line.find(':')));
        }
    }
    return users;
}

ProcessResult BackupServer::new_restic_server(std::vector<std::string> args) const {
    std::vector<std::string> argv = {fs::path(tools_dir()) / "new-restic-server", "-c",
                                     m_config_file.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, base_environment());
}

core::ClientConfig BackupServer::provision(const std::string& host, const std::string& kind,
                                           std::vector<std::string> extra) {
    std::vector<std::string> args = {"-H", host, "--server", kind};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = new_restic_server(args);
    INFO(r.out << r.err);
    REQUIRE(r.success());
    return client_config(host);
}

core::ClientConfig BackupServer::client_config(const std::string& host) const {
    auto config = core::load_client_config((client_dir(host) / "conf/client.yaml").string());
    REQUIRE(config);
    return *config;
}

void BackupServer::start() {
    if (!m_tree) {
        m_tree.emplace(m_work, scan_dir());
    }
}

void BackupServer::enable(const std::string& host) {
    fs::create_symlink(client_dir(host) / "conf/runsvdir", scan_dir() / host);
}

void BackupServer::disable(const std::string& host) {
    fs::remove(scan_dir() / host);
}

void BackupServer::wait_for_storage(const std::string& host) const {
    auto config = client_config(host);
    wait_for_port(config.port, 30s, host + "'s storage server", m_address);
}

pid_t BackupServer::storage_pid(const std::string& host) const {
    for (const char* kind : {"rest-server", "versitygw"}) {
        auto text =
            util::read_file((client_dir(host) / "conf/runsvs" / kind / "supervise/pid").string());
        if (text && !text->empty()) {
            return static_cast<pid_t>(std::stol(*text));
        }
    }
    return 0;
}

void BackupServer::wait_for_restarted_storage(const std::string& host, pid_t before) const {
    REQUIRE(wait_until(
        [&] {
            pid_t now = storage_pid(host);
            return now != 0 && now != before;
        },
        30s));
    wait_for_storage(host);
}

ResticClient BackupServer::client(const std::string& host) const {
    auto text = util::read_file((client_dir(host) / "client/environ").string());
    REQUIRE(text);
    auto assignments = core::parse_environ(*text, "environ");
    REQUIRE(assignments);
    auto client = make_restic_client(m_work / "clients" / host, "");
    std::string password_file = client.env["RESTIC_PASSWORD_FILE"];
    for (const auto& a : *assignments) {
        client.env[a.name] = a.value;
    }
    // The environ names the client's /etc/restic/repo-password; this client keeps its own.
    client.env["RESTIC_PASSWORD_FILE"] = password_file;
    // And /etc/restic/backup-ca.pem: this client takes the CA file from where the server put it.
    if (client.env.contains("RESTIC_CACERT")) {
        client.env["RESTIC_CACERT"] = (client_dir(host) / "client/backup-ca.pem").string();
    }
    return client;
}

std::vector<std::string> BackupServer::secrets_of(const std::string& host) const {
    auto text = util::read_file((client_dir(host) / "client/environ").string());
    REQUIRE(text);
    auto assignments = core::parse_environ(*text, "environ");
    REQUIRE(assignments);
    std::vector<std::string> secrets;
    for (const auto& a : *assignments) {
        if (a.name == "AWS_ACCESS_KEY_ID" || a.name == "AWS_SECRET_ACCESS_KEY" ||
            a.name == "RESTIC_REST_PASSWORD") {
            secrets.push_back(a.value);
        }
    }
    REQUIRE(secrets.size() >= 1);
    return secrets;
}

} // namespace backup::test
