#include "provision/credentials.hpp"

#include "util/bcrypt.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<Credentials> make_credentials(const ClientConfig& config) {
    Credentials c;
    if (config.kind == ServerKind::versitygw) {
        c.access_key = TRY(util::random_token(20, util::k_upper_alphanumeric));
        c.secret = TRY(util::random_token(40));
    } else {
        c.access_key = config.user;
        c.secret = TRY(util::random_token(32));
    }
    return c;
}

Expected<void> write_secrets(const fs::path& secrets, const ClientConfig& config,
                             const Credentials& credentials, const Owner& owner) {
    if (config.kind == ServerKind::versitygw) {
        return write_root_keys(secrets, credentials, &owner);
    }
    std::string hash = TRY(util::bcrypt_hash(credentials.secret));
    return write_file(secrets / "htpasswd", fmt::format("{}:{}\n", config.user, hash), 0600,
                      &owner);
}

Expected<void> write_root_keys(const fs::path& secrets, const Credentials& keys,
                               const Owner* owner) {
    fs::path env = secrets / "versitygw.env";
    std::error_code ec;
    if (!fs::is_directory(env, ec)) {
        TRY(make_dir(env, 0700, owner));
    }
    TRY(write_file(env / "ROOT_ACCESS_KEY_ID", keys.access_key + "\n", 0600, owner));
    return write_file(env / "ROOT_SECRET_ACCESS_KEY", keys.secret + "\n", 0600, owner);
}

Expected<void> write_account(const fs::path& secrets, const Credentials& credentials,
                             const Owner& owner) {
    return write_file(secrets / "versitygw-account",
                      fmt::format("{}\n{}\n", credentials.access_key, credentials.secret), 0600,
                      &owner);
}

Expected<Credentials> read_account(const fs::path& secrets) {
    auto file = secrets / "versitygw-account";
    std::string text = TRY(util::read_file(file.string()));
    auto nl = text.find('\n');
    if (nl == std::string::npos || nl == 0 || !text.ends_with('\n') ||
        text.find('\n', nl + 1) != text.size() - 1 || text.size() == nl + 2) {
        return util::fail(ExitCode::permanent, "read {}: expected two lines, key and secret",
                          file.string());
    }
    return Credentials{text.substr(0, nl), text.substr(nl + 1, text.size() - nl - 2)};
}

std::string render_environ(const ClientConfig& config, const Credentials& credentials,
                           const std::string& ca_file) {
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
    if (!ca_file.empty()) {
        text += fmt::format("# The backup server's CA: copy client/backup-ca.pem from the server.\n"
                            "export RESTIC_CACERT={}\n",
                            ca_file);
    }
    text += "export RESTIC_PASSWORD_FILE=/etc/restic/repo-password\n";
    return text;
}

Expected<void> write_environ(const ServerConfig& server, const ClientConfig& config,
                             const ClientPaths& paths, const Credentials& credentials) {
    std::error_code ec;
    std::string ca_file = fs::exists(paths.ca_file, ec) ? server.tls.client_ca_file : "";
    return write_file(paths.environ_file, render_environ(config, credentials, ca_file), 0600);
}

} // namespace backup::core
