#include "provision/remote.hpp"

#include <cstdlib>

#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/process.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// What the operator replaces; no shell or environ parser reads anything into it.
constexpr std::string_view k_fill = "FILL-IN";

std::string template_config(const std::string& name) {
    return fmt::format(
        "# rclone config of a remote primary, made by new-restic-server: fill in the endpoint\n"
        "# and a READ-ONLY key (list and get) for the bucket; the server needs no more, and the\n"
        "# client keeps its own read-write key in its environ file. See the README, \"Remote\n"
        "# primaries: provisioning and status\". Keep this file mode 0600.\n"
        "[{name}]\n"
        "type = s3\n"
        "provider = Other\n"
        "endpoint = https://{fill}.example\n"
        "access_key_id = {fill}-read-only-access-key\n"
        "secret_access_key = {fill}-read-only-secret-key\n",
        fmt::arg("name", name), fmt::arg("fill", k_fill));
}

std::string field(const util::Json& section, const char* key) {
    auto it = section.find(key);
    return it != section.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// `rclone config dump` of the file alone: rclone's own parser, so that what counts as defined is
// what rclone will use.
Expected<util::Json> dump_config(const std::string& file, const std::string& rclone) {
    util::SpawnOptions o;
    o.argv = {rclone, "config", "dump", "--ask-password=false"};
    const char* path = std::getenv("PATH");
    o.env = {{"RCLONE_CONFIG", file}, {"PATH", path != nullptr ? path : "/usr/bin:/bin"}};
    o.timeout = std::chrono::seconds(30);
    auto result = TRY(util::run(o));
    if (!result.success()) {
        std::string err = result.err;
        while (!err.empty() && err.back() == '\n') {
            err.pop_back();
        }
        return util::fail(ExitCode::permanent, "read rclone config {}: rclone config dump {}: {}",
                          file, result.describe(), err.substr(err.rfind('\n') + 1));
    }
    try {
        return util::Json::parse(result.out);
    } catch (const std::exception& e) {
        return util::fail(ExitCode::permanent, "read rclone config {}: {}", file, e.what());
    }
}

} // namespace

Expected<std::string> find_rclone() {
    if (auto bundled = util::bundled_program("rclone")) {
        return *bundled;
    }
    const char* path = std::getenv("PATH");
    if (auto found = util::find_executable("rclone", path != nullptr ? path : "/usr/bin:/bin")) {
        return fs::absolute(*found).string();
    }
    return util::fail(ExitCode::permanent,
                      "find rclone: remotes are read with it, and it is neither installed with "
                      "the toolkit nor on PATH (apt-get install rclone); nothing was changed");
}

Expected<RemoteStore> read_remote_store(const std::string& remote, const std::string& config_file,
                                        const std::string& rclone) {
    TRY(validate_rclone_remote(remote, "--remote-repository"));
    RemoteStore store;
    auto colon = remote.find(':');
    store.name = remote.substr(0, colon);
    store.path = remote.substr(colon + 1);
    while (store.path.starts_with('/')) {
        store.path.erase(0, 1);
    }
    if (config_file.empty()) {
        store.placeholder = true;
        store.config_text = template_config(store.name);
        store.type = "s3";
        return store;
    }
    store.config_text = TRY(util::read_file(config_file));
    util::Json dump = TRY(dump_config(config_file, rclone));
    auto section = dump.find(store.name);
    if (!dump.is_object() || section == dump.end() || !section->is_object()) {
        return util::fail(ExitCode::permanent,
                          "use --remote-config {}: it defines no remote '{}' (the name before ':' "
                          "in --remote-repository {}); nothing was written",
                          config_file, store.name, remote);
    }
    store.type = field(*section, "type");
    if (store.type == "s3") {
        store.endpoint = field(*section, "endpoint");
        store.region = field(*section, "region");
    }
    return store;
}

std::string remote_repository_url(const RemoteStore& store) {
    if (store.placeholder || store.type != "s3" || store.endpoint.empty()) {
        return {};
    }
    std::string endpoint = store.endpoint;
    while (endpoint.ends_with('/')) {
        endpoint.pop_back();
    }
    return fmt::format("s3:{}/{}", endpoint, store.path);
}

std::string render_remote_environ(const ClientConfig& config, const RemoteStore& store) {
    std::string url = remote_repository_url(store);
    std::string text = fmt::format(
        "# restic environment for {host}, made by new-restic-server. Its repository is on\n"
        "# {remote}, an object store this backup server does not run (it only lists and reads\n"
        "# it, with a read-only key). Install as /etc/restic/environ on {host}, owned by root,\n"
        "# mode 0600; restic-wrapper reads it (it is never run by a shell).\n",
        fmt::arg("host", config.host), fmt::arg("remote", config.remote_repository));
    if (url.empty()) {
        text += fmt::format("# FILL IN: the repository's URL for restic (s3:https://ENDPOINT/{}, "
                            "or another backend's).\n"
                            "export RESTIC_REPOSITORY={}-repository-url\n",
                            store.path, k_fill);
    } else {
        text += fmt::format("export RESTIC_REPOSITORY={}\n", url);
    }
    if (!store.region.empty()) {
        text += fmt::format("export AWS_DEFAULT_REGION={}\n", store.region);
    }
    text += fmt::format(
        "# FILL IN: the client's own READ-WRITE key for the bucket, made by the store's\n"
        "# operator (the backup server's key is read-only and is not this one).\n"
        "export AWS_ACCESS_KEY_ID={fill}-clients-read-write-access-key\n"
        "export AWS_SECRET_ACCESS_KEY={fill}-clients-read-write-secret-key\n"
        "export RESTIC_PASSWORD_FILE=/etc/restic/repo-password\n",
        fmt::arg("fill", k_fill));
    return text;
}

std::string remote_placeholders_text(const RemoteStore& store, const std::string& rclone_config) {
    std::string text;
    if (store.placeholder) {
        text += fmt::format(
            "  {} is a template: fill in the endpoint, access_key_id and secret_access_key\n"
            "  of the [{}] section with a READ-ONLY key (list and get) for the bucket; until\n"
            "  then backup-syncd's listings fail and backup-status says so.\n",
            rclone_config, store.name);
    }
    if (remote_repository_url(store).empty()) {
        text += "  The environ's RESTIC_REPOSITORY is a placeholder: fill in the repository's "
                "URL.\n";
    }
    text += "  The environ's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are placeholders: fill "
            "in the\n  client's own read-write key for the bucket.\n";
    return text;
}

} // namespace backup::core
