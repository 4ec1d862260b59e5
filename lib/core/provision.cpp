#include "core/provision.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/runit.hpp"
#include "core/shared.hpp"
#include "core/templates.hpp"
#include "util/bcrypt.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"
#include "util/scope_guard.hpp"
#include "util/spawn.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

constexpr int k_stop_timeout_seconds = 60;
constexpr std::string_view k_log_config = "s10000000\nn10\n";

struct Owner {
    std::string user;
    std::string group;
    uid_t uid = 0;
    gid_t gid = 0;
};

Expected<Owner> resolve_owner(const std::string& user, const std::string& group) {
    Owner o{user, group, 0, 0};
    std::vector<char> buffer(16384);
    passwd pw{};
    passwd* pw_result = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &pw_result) != 0 ||
        pw_result == nullptr) {
        return util::fail(ExitCode::permanent,
                          "use owner user '{}': no such user (create it, or give -U/owner.user)",
                          user);
    }
    o.uid = pw.pw_uid;
    struct group gr {};
    struct group* gr_result = nullptr;
    if (getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &gr_result) != 0 ||
        gr_result == nullptr) {
        return util::fail(ExitCode::permanent,
                          "use owner group '{}': no such group (create it, or give -G/owner.group)",
                          group);
    }
    o.gid = gr.gr_gid;
    return o;
}

Expected<void> set_owner(const fs::path& path, const Owner& owner) {
    if (::lchown(path.c_str(), owner.uid, owner.gid) != 0) {
        return util::fail_errno(errno, fmt::format("change the owner of {} to {}:{}",
                                                   path.string(), owner.user, owner.group));
    }
    return {};
}

Expected<void> make_dir(const fs::path& path, unsigned mode, const Owner* owner = nullptr) {
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0) {
        return util::fail_errno(errno, fmt::format("create directory {}", path.string()));
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
        return util::fail_errno(errno, fmt::format("set the mode of {}", path.string()));
    }
    if (owner != nullptr) {
        return set_owner(path, *owner);
    }
    return {};
}

Expected<void> write_file(const fs::path& path, std::string_view text, unsigned mode,
                          const Owner* owner = nullptr) {
    if (auto ok = util::atomic_write(path.string(), text, mode); !ok) {
        return ok;
    }
    if (owner != nullptr) {
        return set_owner(path, *owner);
    }
    return {};
}

// An exclusive lock on <root>/systems/.lock for as long as it lives: two provisioning runs must
// not pick the same port or the same staging name.
class ServerLock {
public:
    static Expected<ServerLock> take(const ServerLayout& layout) {
        auto fd = util::open_fd((layout.systems() / ".lock").string(), O_RDWR | O_CREAT, 0600);
        if (!fd) {
            return std::unexpected(fd.error());
        }
        if (::flock(fd->get(), LOCK_EX) != 0) {
            return util::fail_errno(errno, "lock the server root");
        }
        return ServerLock(std::move(*fd));
    }

private:
    explicit ServerLock(util::Fd fd) : m_fd(std::move(fd)) {}
    util::Fd m_fd;
};

bool port_is_free(const std::string& address, int port) {
    util::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
        addr.sin_addr.s_addr = htonl(INADDR_ANY);
    }
    return ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

Expected<int> choose_port(const ServerConfig& server, const ServerLayout& layout,
                          std::optional<int> requested) {
    auto taken = ports_in_use_by_clients(layout);
    auto by_client = [&](int port) {
        return std::find(taken.begin(), taken.end(), port) != taken.end();
    };
    if (requested) {
        if (*requested < 1 || *requested > 65535) {
            return util::fail(ExitCode::permanent, "use port {}: not a port number", *requested);
        }
        if (by_client(*requested)) {
            return util::fail(ExitCode::permanent, "use port {}: another client has it",
                              *requested);
        }
        if (!port_is_free(server.listen_address, *requested)) {
            return util::fail(ExitCode::permanent, "use port {}: it is in use on {}", *requested,
                              server.listen_address);
        }
        return *requested;
    }
    for (int port = server.port_min; port <= server.port_max; ++port) {
        if (!by_client(port) && port_is_free(server.listen_address, port)) {
            return port;
        }
    }
    return util::fail(ExitCode::temporary, "find a free port in {}-{}", server.port_min,
                      server.port_max);
}

std::string own_directory() {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

Expected<std::string> resolve_program(const std::string& configured, const std::string& name,
                                      bool ours) {
    if (!configured.empty()) {
        return configured;
    }
    if (ours) {
        std::string beside = own_directory() + "/" + name;
        if (::access(beside.c_str(), X_OK) == 0) {
            return beside;
        }
    }
    const char* path = std::getenv("PATH");
    auto found = util::find_executable(name, path != nullptr ? path : "/usr/bin:/bin");
    if (!found) {
        return util::fail(ExitCode::permanent,
                          "find {}: not on PATH (install it or set binaries.{} in the server "
                          "config)",
                          name, name);
    }
    return fs::absolute(*found).string();
}

Expected<Credentials> make_credentials(const ClientConfig& config) {
    Credentials c;
    if (config.kind == ServerKind::versitygw) {
        auto key = util::random_token(20, util::k_upper_alphanumeric);
        auto secret = util::random_token(40);
        if (!key || !secret) {
            return std::unexpected(key ? secret.error() : key.error());
        }
        c.access_key = *key;
        c.secret = *secret;
    } else {
        auto password = util::random_token(32);
        if (!password) {
            return std::unexpected(password.error());
        }
        c.access_key = config.user;
        c.secret = *password;
    }
    return c;
}

// Writes the credentials where the storage server reads them: an envdir for versitygw (loaded
// by chpst -e), an htpasswd file for rest-server. Both only readable by the owner.
Expected<void> write_secrets(const fs::path& secrets, const ClientConfig& config,
                             const Credentials& credentials, const Owner& owner) {
    if (config.kind == ServerKind::versitygw) {
        fs::path env = secrets / "versitygw.env";
        std::error_code ec;
        if (!fs::is_directory(env, ec)) {
            if (auto ok = make_dir(env, 0700, &owner); !ok) {
                return ok;
            }
        }
        if (auto ok = write_file(env / "ROOT_ACCESS_KEY_ID", credentials.access_key + "\n", 0600,
                                 &owner);
            !ok) {
            return ok;
        }
        return write_file(env / "ROOT_SECRET_ACCESS_KEY", credentials.secret + "\n", 0600, &owner);
    }
    auto hash = util::bcrypt_hash(credentials.secret);
    if (!hash) {
        return std::unexpected(hash.error());
    }
    return write_file(secrets / "htpasswd", fmt::format("{}:{}\n", config.user, *hash), 0600,
                      &owner);
}

std::string service_name(ServerKind kind) { return std::string(to_string(kind)); }

Expected<void> render_to(const fs::path& path, std::string_view template_name,
                         const std::map<std::string, TemplateValue>& values, unsigned mode) {
    auto text = render_template(template_name, values);
    if (!text) {
        return std::unexpected(text.error());
    }
    return write_file(path, *text, mode);
}

// A service directory with run and log/run; the log goes to logs/<name>.
Expected<void> make_service(const fs::path& dir, std::string_view run_template,
                            std::map<std::string, TemplateValue> values, const fs::path& log_dir,
                            const fs::path& final_log_dir, const Owner& owner) {
    if (auto ok = make_dir(dir, 0755); !ok) {
        return ok;
    }
    if (auto ok = render_to(dir / "run", run_template, values, 0755); !ok) {
        return ok;
    }
    if (auto ok = make_dir(dir / "log", 0755); !ok) {
        return ok;
    }
    values["LOG_DIR"] = {final_log_dir.string()};
    if (auto ok = render_to(dir / "log" / "run", "log/run", values, 0755); !ok) {
        return ok;
    }
    if (auto ok = make_dir(log_dir, 0750, &owner); !ok) {
        return ok;
    }
    return write_file(log_dir / "config", k_log_config, 0644, &owner);
}

Expected<void> rename_no_replace(const fs::path& from, const fs::path& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) {
            return util::fail(ExitCode::permanent, "create {}: it exists", to.string());
        }
        return util::fail_errno(errno, fmt::format("rename {} to {}", from.string(), to.string()));
    }
    return util::fsync_directory(to.parent_path().string());
}

std::string utc_stamp() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &tm);
    return buffer;
}

constexpr std::string_view k_access_disabled = "access-disabled";

std::string admin_address(const ServerConfig& server) {
    return server.listen_address.empty() || server.listen_address == "0.0.0.0"
               ? std::string("127.0.0.1")
               : server.listen_address;
}

std::string rest_server_flags(const ServerConfig& server) {
    std::string flags;
    if (server.append_only) {
        flags += "--append-only";
    }
    if (!server.max_size.empty()) {
        flags += (flags.empty() ? "" : " ") + std::string("--max-size ") + server.max_size;
    }
    return flags;
}

// Sends a runit control command (hup, restart...) to a supervised service; nothing when none
// supervises it (a server that starts later reads its files then).
Expected<void> sv_command(const fs::path& service, const std::string& command) {
    if (!is_supervised(service)) {
        return {};
    }
    util::SpawnOptions o;
    o.argv = {"sv", "-w", "30", command, service.string()};
    o.env = util::current_environment();
    o.timeout = std::chrono::seconds(60);
    auto r = util::run(o);
    if (!r || !r->success()) {
        return util::fail(ExitCode::temporary, "run 'sv {} {}': {}", command, service.string(),
                          r ? r->describe() + " " + r->out : r.error().message());
    }
    return {};
}

// The shared instance of kind: made (in a staging directory renamed into place, then linked
// into the scan directory) when there is none. The caller holds the server lock.
Expected<SharedInstance> ensure_shared_instance(const ServerConfig& server,
                                                const ServerLayout& layout, ServerKind kind,
                                                const Owner& owner, const std::string& binary) {
    SharedPaths final_paths = shared_paths(layout, kind);
    std::error_code ec;
    if (fs::exists(final_paths.config_file, ec)) {
        return load_shared_config(final_paths.config_file.string());
    }
    fs::path shared_root = layout.root() / "shared";
    if (!fs::is_directory(shared_root, ec) && ::mkdir(shared_root.c_str(), 0755) != 0 &&
        errno != EEXIST) {
        return util::fail_errno(errno, fmt::format("create directory {}", shared_root.string()));
    }
    auto port = choose_port(server, layout, std::nullopt);
    if (!port) {
        return std::unexpected(port.error());
    }
    SharedInstance instance{kind, *port};
    auto staging = util::TempDir::create(
        (shared_root / fmt::format(".staging-{}-", to_string(kind))).string());
    if (!staging) {
        return std::unexpected(staging.error());
    }
    ::chmod(staging->path().c_str(), 0755);
    SharedPaths p = shared_paths_at(staging->path());
    std::string name(to_string(kind));
    std::map<std::string, TemplateValue> values = {
        {"OWNER", {fmt::format("{}:{}", owner.user, owner.group)}},
        {"DATA", {final_paths.data.string()}},
        {"IAM", {final_paths.iam.string()}},
        {"ENVDIR", {(final_paths.secrets / "versitygw.env").string()}},
        {"HTPASSWD", {(final_paths.secrets / "htpasswd").string()}},
        {"LISTEN", {fmt::format("{}:{}", server.listen_address, instance.port)}},
        {"VERSITYGW", {binary}},
        {"REST_SERVER", {binary}},
        {"REST_SERVER_FLAGS", {rest_server_flags(server), ValueKind::words}},
    };
    auto build = [&]() -> Expected<void> {
        if (auto ok = make_dir(p.secrets, 0700, &owner); !ok) {
            return ok;
        }
        if (auto ok = make_dir(p.data, 0750, &owner); !ok) {
            return ok;
        }
        if (auto ok = make_dir(p.logs, 0755); !ok) {
            return ok;
        }
        if (auto ok = make_service(p.service, "shared-" + name + "/run", values, p.logs / name,
                                   final_paths.logs / name, owner);
            !ok) {
            return ok;
        }
        if (kind == ServerKind::versitygw) {
            if (auto ok = make_dir(p.iam, 0700, &owner); !ok) {
                return ok;
            }
            ClientConfig root_account;
            root_account.kind = ServerKind::versitygw;
            auto root_keys = make_credentials(root_account);
            if (!root_keys) {
                return std::unexpected(root_keys.error());
            }
            if (auto ok = write_secrets(p.secrets, root_account, *root_keys, owner); !ok) {
                return ok;
            }
        } else if (auto ok = write_file(p.secrets / "htpasswd", "", 0600, &owner); !ok) {
            return ok;
        }
        return write_file(p.config_file, render_shared_config(instance), 0644);
    };
    if (auto ok = build(); !ok) {
        return std::unexpected(
            ok.error().with_context(fmt::format("provision the shared {}", name)));
    }
    if (auto ok = rename_no_replace(staging->path(), final_paths.dir); !ok) {
        return std::unexpected(ok.error());
    }
    staging->release();
    fs::path link = layout.scan_dir() / shared_service_name(kind);
    if (::symlink(final_paths.service.c_str(), link.c_str()) != 0 && errno != EEXIST) {
        int err = errno;
        fs::remove_all(final_paths.dir, ec);
        return util::fail_errno(err, fmt::format("create link {}", link.string()));
    }
    return instance;
}

// The account keys of a shared versitygw client, kept in its secrets/ (the server needs the
// secret again to re-enable the account).
Expected<void> write_account(const fs::path& secrets, const Credentials& credentials,
                             const Owner& owner) {
    return write_file(secrets / "versitygw-account",
                      fmt::format("{}\n{}\n", credentials.access_key, credentials.secret), 0600,
                      &owner);
}

Expected<Credentials> read_account(const fs::path& secrets) {
    auto file = secrets / "versitygw-account";
    auto text = util::read_file(file.string());
    if (!text) {
        return std::unexpected(text.error());
    }
    auto nl = text->find('\n');
    if (nl == std::string::npos || nl == 0 || !text->ends_with('\n') ||
        text->find('\n', nl + 1) != text->size() - 1 || text->size() == nl + 2) {
        return util::fail(ExitCode::permanent, "read {}: expected two lines, key and secret",
                          file.string());
    }
    return Credentials{text->substr(0, nl), text->substr(nl + 1, text->size() - nl - 2)};
}

// Rewrites the shared rest-server's htpasswd from every shared rest-server client whose access
// is enabled (their secrets/htpasswd lines), atomically, and HUPs rest-server to re-read it.
Expected<void> rebuild_shared_htpasswd(const ServerLayout& layout, const Owner& owner) {
    std::vector<std::string> lines;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(layout.systems(), ec)) {
        auto paths = ServerLayout::client_at(entry.path());
        if (entry.path().filename().string().starts_with(".") ||
            !fs::exists(paths.config_file, ec)) {
            continue;
        }
        auto config = load_client_config(paths.config_file.string());
        if (!config) {
            return std::unexpected(config.error());
        }
        if (config->topology != Topology::shared || config->kind != ServerKind::rest_server ||
            fs::exists(paths.conf / k_access_disabled, ec)) {
            continue;
        }
        auto line = util::read_file((paths.secrets / "htpasswd").string());
        if (!line) {
            return std::unexpected(line.error());
        }
        while (!line->empty() && line->back() == '\n') {
            line->pop_back();
        }
        lines.push_back(*line);
    }
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("list {}", layout.systems().string()));
    }
    auto text = compose_htpasswd(std::move(lines));
    if (!text) {
        return std::unexpected(text.error());
    }
    auto shared = shared_paths(layout, ServerKind::rest_server);
    if (auto ok = write_file(shared.secrets / "htpasswd", *text, 0600, &owner); !ok) {
        return ok;
    }
    return sv_command(shared.service, "hup");
}

Expected<Owner> shared_owner(const ServerLayout& layout, ServerKind kind) {
    struct stat st {};
    auto secrets = shared_paths(layout, kind).secrets;
    if (::stat(secrets.c_str(), &st) != 0) {
        return util::fail_errno(errno, fmt::format("find the shared {}", to_string(kind)));
    }
    Owner o;
    o.uid = st.st_uid;
    o.gid = st.st_gid;
    o.user = std::to_string(st.st_uid);
    o.group = std::to_string(st.st_gid);
    return o;
}

Expected<VersitygwAdmin> shared_admin(const ServerConfig& server, const ServerLayout& layout) {
    auto paths = shared_paths(layout, ServerKind::versitygw);
    auto instance = load_shared_config(paths.config_file.string());
    if (!instance) {
        return std::unexpected(instance.error());
    }
    return VersitygwAdmin::for_instance(paths, admin_address(server), instance->port);
}

} // namespace

std::vector<int> ports_in_use_by_clients(const ServerLayout& layout) {
    std::vector<int> ports;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(layout.systems(), ec)) {
        auto file = entry.path() / "conf" / "client.yaml";
        if (!fs::exists(file, ec)) {
            continue;
        }
        auto config = load_client_config(file.string());
        if (config && config->topology == Topology::dedicated) {
            ports.push_back(config->port);
        }
    }
    auto shared = shared_instance_ports(layout);
    ports.insert(ports.end(), shared.begin(), shared.end());
    return ports;
}

std::string render_environ(const ClientConfig& config, const Credentials& credentials) {
    std::string text = fmt::format(
        "# restic environment for {host}, made by new-restic-server.\n"
        "# Install as /etc/restic/environ on {host}, owned by root, mode 0600. restic-wrapper\n"
        "# reads it (it is never run by a shell). The repository password is made on the client\n"
        "# and kept in /etc/restic/repo-password (mode 0600); the backup server never sees it.\n"
        "export RESTIC_REPOSITORY={url}\n",
        fmt::arg("host", config.host), fmt::arg("url", config.repository_url()));
    if (config.kind == ServerKind::versitygw) {
        text += fmt::format("export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
                            credentials.access_key, credentials.secret);
    } else {
        text += fmt::format("export RESTIC_REST_USERNAME={}\nexport RESTIC_REST_PASSWORD={}\n",
                            credentials.access_key, credentials.secret);
    }
    text += "export RESTIC_PASSWORD_FILE=/etc/restic/repo-password\n";
    return text;
}

Expected<ProvisionResult> provision_client(const ServerConfig& server,
                                           const ProvisionRequest& request) {
    if (auto ok = validate_host_name(request.host); !ok) {
        return std::unexpected(ok.error());
    }
    ServerLayout layout(server.root);
    ClientConfig config;
    config.host = request.host;
    config.kind = request.kind.value_or(server.kind);
    config.topology = request.topology.value_or(server.topology);
    config.owner_user = request.owner_user.value_or(server.owner_user);
    config.owner_group = request.owner_group.value_or(server.owner_group);
    config.audit_fraction = server.audit_fraction;
    if (request.address) {
        config.address = *request.address;
    } else if (!server.public_address.empty()) {
        config.address = server.public_address;
    } else {
        char name[256] = {};
        ::gethostname(name, sizeof name - 1);
        config.address = name;
    }
    auto owner = resolve_owner(config.owner_user, config.owner_group);
    if (!owner) {
        return std::unexpected(owner.error());
    }
    auto storage_binary =
        config.kind == ServerKind::versitygw
            ? resolve_program(server.versitygw_binary, "versitygw", false)
            : resolve_program(server.rest_server_binary, "rest-server", false);
    auto syncd_binary = resolve_program(server.backup_syncd_binary, "backup-syncd", true);
    auto replicate_binary =
        resolve_program(server.restic_replicate_binary, "restic-replicate", true);
    for (const auto* program : {&storage_binary, &syncd_binary, &replicate_binary}) {
        if (!*program) {
            return std::unexpected(program->error());
        }
    }
    for (auto d : server.destinations) {
        auto expand = [&](std::string s) {
            for (auto at = s.find("{host}"); at != std::string::npos; at = s.find("{host}")) {
                s.replace(at, 6, config.host);
            }
            return s;
        };
        d.path = expand(d.path.string());
        d.remote = expand(d.remote);
        config.destinations.push_back(std::move(d));
    }

    // The root must exist (an administrator's choice, not ours to invent); its systems/ and
    // scan directory are ours.
    std::error_code ec;
    if (!fs::is_directory(server.root, ec)) {
        return util::fail(ExitCode::permanent, "use root {}: not a directory", server.root.string());
    }
    for (const auto& dir : {layout.systems(), layout.systems() / "conf", layout.scan_dir()}) {
        if (!fs::is_directory(dir, ec) && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
            return util::fail_errno(errno, fmt::format("create directory {}", dir.string()));
        }
    }
    auto lock = ServerLock::take(layout);
    if (!lock) {
        return std::unexpected(lock.error());
    }
    ClientPaths final_paths = layout.client(config.host);
    if (fs::exists(fs::symlink_status(final_paths.dir, ec))) {
        return util::fail(ExitCode::permanent,
                          "provision {}: it exists ({}); nothing was changed (to replace its keys "
                          "use --rotate-keys, to start over use --remove first)",
                          config.host, final_paths.dir.string());
    }
    bool shared = config.topology == Topology::shared;
    SharedPaths shared_at = shared_paths(layout, config.kind);
    if (shared) {
        if (request.port) {
            return util::fail(ExitCode::permanent,
                              "use port {} for {}: a shared client uses the shared instance's "
                              "port",
                              *request.port, config.host);
        }
        auto instance = ensure_shared_instance(server, layout, config.kind, *owner,
                                               *storage_binary);
        if (!instance) {
            return std::unexpected(instance.error());
        }
        config.port = instance->port;
    } else {
        auto port = choose_port(server, layout, request.port);
        if (!port) {
            return std::unexpected(port.error());
        }
        config.port = *port;
    }
    fs::path data_dir = shared ? shared_at.data : final_paths.data;
    auto credentials = make_credentials(config);
    if (!credentials) {
        return std::unexpected(credentials.error());
    }
    if (config.kind == ServerKind::versitygw) {
        // S3 bucket names need 3 to 63 characters.
        config.bucket = config.host.size() >= 3 ? config.host : config.host + "-restic";
        // On the shared gateway the account is named by its access key.
        config.user = shared ? credentials->access_key : config.host;
        config.repository = data_dir / config.bucket;
    } else {
        config.user = config.host;
        config.repository = data_dir / config.user;
        credentials->access_key = config.user; // the htpasswd user
    }
    std::error_code exists_ec;
    if (shared && fs::exists(fs::symlink_status(config.repository, exists_ec))) {
        return util::fail(ExitCode::permanent,
                          "provision {}: {} exists in the shared {} (left by another client?); "
                          "nothing was changed",
                          config.host, config.repository.string(), to_string(config.kind));
    }

    auto staging = util::TempDir::create(
        (layout.systems() / fmt::format(".staging-{}-", config.host)).string());
    if (!staging) {
        return std::unexpected(staging.error());
    }
    ::chmod(staging->path().c_str(), 0755);
    ClientPaths p = ServerLayout::client_at(staging->path());
    std::string listen = fmt::format("{}:{}", server.listen_address, config.port);
    std::string owner_spec = fmt::format("{}:{}", owner->user, owner->group);
    std::string storage = service_name(config.kind);
    std::string rest_flags;
    if (server.append_only) {
        rest_flags += "--append-only";
    }
    if (!server.max_size.empty()) {
        rest_flags += (rest_flags.empty() ? "" : " ") + std::string("--max-size ") + server.max_size;
    }
    std::map<std::string, TemplateValue> values = {
        {"HOST", {config.host}},
        {"OWNER", {owner_spec}},
        {"SERVICES", {final_paths.services.string()}},
        {"ENABLE_LINK", {layout.enable_link(config.host).string()}},
        {"STOP_TIMEOUT", {std::to_string(k_stop_timeout_seconds)}},
        {"DATA", {final_paths.data.string()}},
        {"BUCKET", {config.bucket.empty() ? config.user : config.bucket}},
        {"ENVDIR", {(final_paths.secrets / "versitygw.env").string()}},
        {"HTPASSWD", {(final_paths.secrets / "htpasswd").string()}},
        {"LISTEN", {listen}},
        {"VERSITYGW", {*storage_binary}},
        {"REST_SERVER", {*storage_binary}},
        {"REST_SERVER_FLAGS", {rest_flags, ValueKind::words}},
        {"BACKUP_SYNCD", {*syncd_binary}},
        {"WATCHDIR", {(config.repository / "snapshots").string()}},
        {"STATE", {final_paths.state.string()}},
        {"SYNC_COMMAND",
         {fmt::format("{} --root {} --client {}", *replicate_binary, server.root.string(),
                      config.host),
          ValueKind::words}},
    };

    auto build = [&]() -> Expected<void> {
        for (const auto& dir : {p.conf, p.services, p.dir / "client"}) {
            if (auto ok = make_dir(dir, 0755); !ok) {
                return ok;
            }
        }
        if (auto ok = make_dir(p.secrets, 0700, &*owner); !ok) {
            return ok;
        }
        if (!shared) {
            if (auto ok = make_dir(p.data, 0750, &*owner); !ok) {
                return ok;
            }
        }
        if (auto ok = make_dir(p.state, 0750, &*owner); !ok) {
            return ok;
        }
        if (auto ok = make_dir(p.logs, 0755); !ok) {
            return ok;
        }
        // The client's own service: its runsvdir, the control/t that stops the whole tree.
        if (auto ok = make_service(p.service, "client/run", values, p.logs / "runsvdir",
                                   final_paths.logs / "runsvdir", *owner);
            !ok) {
            return ok;
        }
        if (auto ok = make_dir(p.service / "control", 0755); !ok) {
            return ok;
        }
        if (auto ok = render_to(p.service / "control" / "t", "client/control-t", values, 0755);
            !ok) {
            return ok;
        }
        // A shared client's storage server is the shared instance: only backup-syncd here.
        if (!shared) {
            if (auto ok = make_service(p.services / storage, storage + "/run", values,
                                       p.logs / storage, final_paths.logs / storage, *owner);
                !ok) {
                return ok;
            }
        }
        if (auto ok = make_service(p.services / "backup-syncd", "backup-syncd/run", values,
                                   p.logs / "backup-syncd", final_paths.logs / "backup-syncd",
                                   *owner);
            !ok) {
            return ok;
        }
        auto secrets_written = shared && config.kind == ServerKind::versitygw
                                   ? write_account(p.secrets, *credentials, *owner)
                                   : write_secrets(p.secrets, config, *credentials, *owner);
        if (!secrets_written) {
            return secrets_written;
        }
        if (auto ok = write_file(p.config_file, render_client_config(config), 0644); !ok) {
            return ok;
        }
        return write_file(p.environ_file, render_environ(config, *credentials), 0600);
    };
    if (auto ok = build(); !ok) {
        return std::unexpected(ok.error().with_context(fmt::format("provision {}", config.host)));
    }
    if (shared && config.kind == ServerKind::versitygw) {
        // The account and its bucket, then the rename; undone in reverse if a later step fails.
        auto admin = shared_admin(server, layout);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        if (auto ok = admin->wait_ready(std::chrono::seconds(30)); !ok) {
            return std::unexpected(ok.error());
        }
        if (auto ok = admin->create_user(config.user, credentials->secret); !ok) {
            return std::unexpected(ok.error());
        }
        if (auto ok = admin->create_bucket(config.bucket, config.user); !ok) {
            (void)admin->delete_user(config.user);
            return std::unexpected(ok.error());
        }
        if (auto ok = rename_no_replace(staging->path(), final_paths.dir); !ok) {
            (void)admin->delete_bucket(config.bucket);
            (void)admin->delete_user(config.user);
            return std::unexpected(ok.error());
        }
        staging->release();
        return ProvisionResult{config, final_paths, layout.enable_link(config.host)};
    }
    if (auto ok = rename_no_replace(staging->path(), final_paths.dir); !ok) {
        return std::unexpected(ok.error());
    }
    if (shared) {
        // The client is in place: the htpasswd is composed from the clients on disk.
        if (auto ok = rebuild_shared_htpasswd(layout, *owner); !ok) {
            if (::rename(final_paths.dir.c_str(), staging->path().c_str()) == 0) {
                (void)rebuild_shared_htpasswd(layout, *owner);
            }
            return std::unexpected(ok.error().with_context(fmt::format("provision {}", config.host)));
        }
    }
    staging->release();
    return ProvisionResult{config, final_paths, layout.enable_link(config.host)};
}

namespace {

Expected<ClientConfig> existing_client(const ServerLayout& layout, const std::string& host) {
    if (auto ok = validate_host_name(host); !ok) {
        return std::unexpected(ok.error());
    }
    auto paths = layout.client(host);
    std::error_code ec;
    if (!fs::is_directory(paths.dir, ec)) {
        return util::fail(ExitCode::permanent, "find client {}: no directory {}", host,
                          paths.dir.string());
    }
    return load_client_config(paths.config_file.string());
}

// The service directories of a client that a runsv may supervise.
std::vector<fs::path> client_service_dirs(const ClientPaths& paths) {
    std::vector<fs::path> dirs = {paths.service, paths.service / "log"};
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(paths.services, ec)) {
        dirs.push_back(entry.path());
        dirs.push_back(entry.path() / "log");
    }
    return dirs;
}

// Shared topology: the new secret goes to the server without a restart. versitygw: the
// account keeps its access key; the admin API takes the new secret (unless access is disabled,
// when only the stored secret changes). rest-server: the client's htpasswd line, then the
// shared htpasswd and a HUP.
Expected<void> rotate_shared_keys(const ServerConfig& server, const ServerLayout& layout,
                                  const ClientConfig& config, const ClientPaths& paths,
                                  Credentials credentials, const Owner& owner) {
    std::error_code ec;
    bool disabled = fs::exists(paths.conf / k_access_disabled, ec);
    if (config.kind == ServerKind::versitygw) {
        auto old = read_account(paths.secrets);
        if (!old) {
            return std::unexpected(old.error());
        }
        credentials.access_key = old->access_key;
        auto admin = shared_admin(server, layout);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        if (!disabled) {
            if (auto ok = admin->set_secret(config.user, credentials.secret); !ok) {
                return ok;
            }
        }
        auto written = write_account(paths.secrets, credentials, owner);
        if (written) {
            written = write_file(paths.environ_file, render_environ(config, credentials), 0600);
        }
        if (!written && !disabled) {
            // Keep the server and the files in agreement: the old secret is what they hold.
            (void)admin->set_secret(config.user, old->secret);
            (void)write_account(paths.secrets, *old, owner);
        }
        return written;
    }
    auto old_line = util::read_file((paths.secrets / "htpasswd").string());
    if (!old_line) {
        return std::unexpected(old_line.error());
    }
    if (auto ok = write_secrets(paths.secrets, config, credentials, owner); !ok) {
        return ok;
    }
    auto shared_owner_id = shared_owner(layout, config.kind);
    if (!shared_owner_id) {
        return std::unexpected(shared_owner_id.error());
    }
    if (auto ok = rebuild_shared_htpasswd(layout, *shared_owner_id); !ok) {
        (void)write_file(paths.secrets / "htpasswd", *old_line, 0600, &owner);
        (void)rebuild_shared_htpasswd(layout, *shared_owner_id);
        return ok;
    }
    return write_file(paths.environ_file, render_environ(config, credentials), 0600);
}

} // namespace

Expected<void> set_client_access(const ServerConfig& server, const std::string& host,
                                 bool enabled) {
    ServerLayout layout(server.root);
    auto config = existing_client(layout, host);
    if (!config) {
        return std::unexpected(config.error());
    }
    if (config->topology != Topology::shared) {
        return util::fail(ExitCode::permanent,
                          "{} {}: it has a dedicated storage server; {} its link {} instead",
                          enabled ? "enable" : "disable", host, enabled ? "create" : "remove",
                          layout.enable_link(host).string());
    }
    auto lock = ServerLock::take(layout);
    if (!lock) {
        return std::unexpected(lock.error());
    }
    auto paths = layout.client(host);
    fs::path marker = paths.conf / k_access_disabled;
    std::error_code ec;
    bool disabled = fs::exists(marker, ec);
    if (disabled != enabled) {
        return {}; // already so
    }
    std::string what = fmt::format("{} {}", enabled ? "enable" : "disable", host);
    auto set_marker = [&]() -> Expected<void> {
        if (enabled) {
            if (::unlink(marker.c_str()) != 0 && errno != ENOENT) {
                return util::fail_errno(errno, fmt::format("remove {}", marker.string()));
            }
            return util::fsync_directory(paths.conf.string());
        }
        return write_file(marker,
                          "# The client's access to the shared storage server is disabled "
                          "(new-restic-server --enable undoes it).\n",
                          0644);
    };
    if (config->kind == ServerKind::versitygw) {
        auto account = read_account(paths.secrets);
        if (!account) {
            return std::unexpected(account.error());
        }
        auto admin = shared_admin(server, layout);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        // versitygw has no disabled state: a disabled account gets a secret nobody knows; the
        // client's secret stays in its secrets/ for --enable.
        std::string secret = account->secret;
        if (!enabled) {
            auto unknown = util::random_token(40);
            if (!unknown) {
                return std::unexpected(unknown.error());
            }
            secret = *unknown;
        }
        if (auto ok = admin->set_secret(config->user, secret); !ok) {
            return std::unexpected(ok.error().with_context(what));
        }
        if (auto ok = set_marker(); !ok) {
            if (!enabled) {
                (void)admin->set_secret(config->user, account->secret);
            } else if (auto unknown = util::random_token(40)) {
                (void)admin->set_secret(config->user, *unknown);
            }
            return std::unexpected(ok.error().with_context(what));
        }
        return {};
    }
    if (auto ok = set_marker(); !ok) {
        return std::unexpected(ok.error().with_context(what));
    }
    auto owner = shared_owner(layout, config->kind);
    if (!owner) {
        return std::unexpected(owner.error());
    }
    if (auto ok = rebuild_shared_htpasswd(layout, *owner); !ok) {
        enabled = !enabled;
        (void)set_marker();
        (void)rebuild_shared_htpasswd(layout, *owner);
        return std::unexpected(ok.error().with_context(what));
    }
    return {};
}

Expected<fs::path> remove_client(const ServerConfig& server, const std::string& host,
                                 bool delete_data) {
    ServerLayout layout(server.root);
    auto config = existing_client(layout, host);
    if (!config) {
        return std::unexpected(config.error());
    }
    auto lock = ServerLock::take(layout);
    if (!lock) {
        return std::unexpected(lock.error());
    }
    std::error_code ec;
    auto link = layout.enable_link(host);
    if (fs::exists(fs::symlink_status(link, ec))) {
        return util::fail(ExitCode::permanent,
                          "remove {}: it is enabled; disable it first with 'rm {}' and wait for "
                          "its services to stop",
                          host, link.string());
    }
    auto paths = layout.client(host);
    bool shared = config->topology == Topology::shared;
    if (shared && !fs::exists(paths.conf / k_access_disabled, ec)) {
        return util::fail(ExitCode::permanent,
                          "remove {}: its access to the shared {} is enabled; disable it first "
                          "with 'new-restic-server -H {} --disable'",
                          host, to_string(config->kind), host);
    }
    for (const auto& dir : client_service_dirs(paths)) {
        if (is_supervised(dir)) {
            return util::fail(ExitCode::temporary,
                              "remove {}: {} is still supervised by a runsv; wait until it "
                              "stopped",
                              host, dir.string());
        }
    }
    // Out of the client namespace in one rename, then take apart at leisure.
    fs::path removed_dir = layout.systems() / "removed";
    if (!fs::is_directory(removed_dir, ec) && ::mkdir(removed_dir.c_str(), 0700) != 0 &&
        errno != EEXIST) {
        return util::fail_errno(errno, fmt::format("create directory {}", removed_dir.string()));
    }
    fs::path target = removed_dir / fmt::format("{}-{}", host, utc_stamp());
    if (shared && config->kind == ServerKind::versitygw) {
        // The account dies first (its secret is already unknown to the world while disabled).
        auto admin = shared_admin(server, layout);
        if (!admin) {
            return std::unexpected(admin.error());
        }
        if (auto ok = admin->delete_user(config->user); !ok) {
            return std::unexpected(ok.error().with_context(fmt::format("remove {}", host)));
        }
    }
    if (auto ok = rename_no_replace(paths.dir, target); !ok) {
        return std::unexpected(ok.error());
    }
    if (shared) {
        // The repository leaves the shared data directory: for versitygw that also ends the
        // bucket (a bucket is a directory of the posix backend).
        std::error_code exists_ec;
        if (fs::exists(config->repository, exists_ec)) {
            if (auto ok = make_dir(target / "data", 0750); !ok) {
                return std::unexpected(ok.error());
            }
            if (auto ok = rename_no_replace(config->repository,
                                            target / "data" / config->repository.filename());
                !ok) {
                return std::unexpected(ok.error());
            }
        }
    }
    // Credentials die first.
    for (const auto& part : {"secrets", "client", "conf", "state", "logs"}) {
        fs::remove_all(target / part, ec);
        if (ec) {
            return util::fail_errno(ec.value(),
                                    fmt::format("remove {}", (target / part).string()));
        }
    }
    if (delete_data) {
        fs::remove_all(target, ec);
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("remove {}", target.string()));
        }
        return fs::path();
    }
    return target / "data";
}

Expected<ClientConfig> rotate_client_keys(const ServerConfig& server, const std::string& host) {
    ServerLayout layout(server.root);
    auto config = existing_client(layout, host);
    if (!config) {
        return std::unexpected(config.error());
    }
    auto owner = resolve_owner(config->owner_user, config->owner_group);
    if (!owner) {
        return std::unexpected(owner.error());
    }
    auto lock = ServerLock::take(layout);
    if (!lock) {
        return std::unexpected(lock.error());
    }
    auto credentials = make_credentials(*config);
    if (!credentials) {
        return std::unexpected(credentials.error());
    }
    auto paths = layout.client(host);
    if (config->topology == Topology::shared) {
        if (auto ok = rotate_shared_keys(server, layout, *config, paths, *credentials, *owner);
            !ok) {
            return std::unexpected(ok.error().with_context(fmt::format("rotate the keys of {}", host)));
        }
        return config;
    }
    if (auto ok = write_secrets(paths.secrets, *config, *credentials, *owner); !ok) {
        return std::unexpected(ok.error());
    }
    if (auto ok = write_file(paths.environ_file, render_environ(*config, *credentials), 0600);
        !ok) {
        return std::unexpected(ok.error());
    }
    fs::path storage = paths.services / service_name(config->kind);
    if (is_supervised(storage)) {
        util::SpawnOptions o;
        o.argv = {"sv", "-w", "30", "restart", storage.string()};
        o.env = util::current_environment();
        o.timeout = std::chrono::seconds(60);
        auto r = util::run(o);
        if (!r || !r->success()) {
            return util::fail(ExitCode::temporary,
                              "restart {} to load the new keys: {}; the new keys are written, run "
                              "'sv restart {}'",
                              storage.string(), r ? r->describe() + " " + r->out : r.error().message(),
                              storage.string());
        }
    }
    return config;
}

} // namespace backup::core
