#include "model/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "model/layout.hpp"
#include "model/templates.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::YamlMap;

std::string_view to_string(ServerKind kind) {
    return kind == ServerKind::versitygw ? "versitygw" : "rest-server";
}

std::string_view to_string(Topology topology) {
    return topology == Topology::dedicated ? "dedicated" : "shared";
}

std::optional<ServerKind> parse_server_kind(std::string_view text) {
    if (text == "versitygw") {
        return ServerKind::versitygw;
    }
    if (text == "rest-server") {
        return ServerKind::rest_server;
    }
    return std::nullopt;
}

std::optional<Topology> parse_topology(std::string_view text) {
    if (text == "dedicated") {
        return Topology::dedicated;
    }
    if (text == "shared") {
        return Topology::shared;
    }
    return std::nullopt;
}

namespace {

bool has_dotdot(const fs::path& p) {
    return std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; });
}

} // namespace

util::Expected<void> validate_destination(const Destination& d) {
    bool name_ok =
        !d.name.empty() && d.name.size() <= 32 &&
        std::all_of(d.name.begin(), d.name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        });
    if (!name_ok) {
        return util::fail(ExitCode::permanent,
                          "use destination '{}': a name is 1 to 32 of a-z, 0-9, '-', '_'", d.name);
    }
    if (d.path.empty() == d.remote.empty()) {
        return util::fail(ExitCode::permanent,
                          "use destination '{}': give exactly one of 'path' and 'remote'", d.name);
    }
    if (!d.path.empty() && (!d.path.is_absolute() || has_dotdot(d.path))) {
        return util::fail(ExitCode::permanent,
                          "use destination '{}': path {} must be absolute, without '..'", d.name,
                          d.path.string());
    }
    if (!d.remote.empty()) {
        TRY(validate_rclone_remote(d.remote, fmt::format("destination '{}'", d.name)));
    }
    return {};
}

util::Expected<void> validate_rclone_remote(std::string_view remote, std::string_view what) {
    auto colon = remote.find(':');
    bool named = colon != std::string_view::npos && colon > 0 &&
                 remote.find_first_of(",={}") == std::string_view::npos &&
                 remote.find("..") == std::string_view::npos &&
                 std::all_of(remote.begin(), remote.begin() + static_cast<long>(colon), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                            c == '.' || c == ' ';
                 });
    if (!named) {
        return util::fail(ExitCode::permanent,
                          "use {}: remote '{}' must be an rclone remote 'NAME:PATH' (credentials "
                          "belong in rclone's config or RCLONE_CONFIG_* variables)",
                          what, remote);
    }
    return {};
}

std::optional<std::optional<std::chrono::seconds>> parse_keep_deleted(std::string_view text) {
    if (text == "forever") {
        return std::optional<std::chrono::seconds>();
    }
    auto duration = util::parse_duration(text);
    if (!duration || duration->count() <= 0) {
        return std::nullopt;
    }
    return std::optional<std::chrono::seconds>(*duration);
}

std::string format_keep_deleted(const std::optional<std::chrono::seconds>& keep) {
    if (!keep) {
        return "forever";
    }
    // Exact, so that a config written back reads as the same duration.
    auto seconds = keep->count();
    for (auto [unit, size] : {std::pair{'d', 86400LL}, {'h', 3600LL}, {'m', 60LL}}) {
        if (seconds % size == 0) {
            return fmt::format("{}{}", seconds / size, unit);
        }
    }
    return fmt::format("{}s", seconds);
}

namespace {

// keep_deleted and hold_deletions_above of one destination.
void read_retention(YamlMap& item, Destination& d) {
    if (auto keep = item.string("keep_deleted")) {
        if (auto parsed = parse_keep_deleted(*keep)) {
            d.keep_deleted = *parsed;
        } else {
            item.problem("keep_deleted", "expected 'forever' or a duration such as 12h or 4d");
        }
    }
    auto hold = item.map("hold_deletions_above");
    if (!hold) {
        return;
    }
    if (auto share = hold->string("snapshots")) {
        std::string digits = share->ends_with('%') ? share->substr(0, share->size() - 1) : *share;
        int percent = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent);
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
            percent < 0 || percent > 100) {
            hold->problem("snapshots", "expected a share of the snapshots from 0% to 100%");
        } else {
            d.hold_above_percent = percent;
        }
    }
    if (auto size = hold->string("size")) {
        d.hold_above_bytes = util::parse_size(*size);
        if (!d.hold_above_bytes) {
            hold->problem("size", "expected a number of bytes, optionally with K, M, G or T");
        }
    }
    hold->reject_unknown_keys();
}

// The server config's destinations are templates: "{host}" stands for each client's name and is
// checked as if it were one.
std::string with_sample_host(std::string text) {
    for (auto at = text.find("{host}"); at != std::string::npos; at = text.find("{host}")) {
        text.replace(at, 6, "host");
    }
    return text;
}

std::vector<Destination> read_destinations(YamlMap& map, bool host_templates) {
    std::vector<Destination> out;
    auto list = map.map_list("destinations");
    if (!list) {
        return out;
    }
    std::set<std::string> names;
    for (auto& item : *list) {
        Destination d;
        d.name = item.string("name").value_or("");
        d.path = item.string("path").value_or("");
        d.remote = item.string("remote").value_or("");
        read_retention(item, d);
        item.reject_unknown_keys();
        Destination checked = d;
        if (host_templates) {
            checked.path = with_sample_host(d.path.string());
            checked.remote = with_sample_host(d.remote);
        }
        if (auto ok = validate_destination(checked); !ok) {
            item.problem("", ok.error().message());
        } else if (!names.insert(d.name).second) {
            item.problem("name", fmt::format("destination name '{}' used twice", d.name));
        }
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace

std::string ClientConfig::endpoint() const {
    return fmt::format("{}://{}:{}", tls ? "https" : "http", address, port);
}

std::string ClientConfig::repository_url() const {
    if (kind == ServerKind::versitygw) {
        return fmt::format("s3:{}/{}", endpoint(), bucket);
    }
    return fmt::format("rest:{}/{}/", endpoint(), user);
}

namespace {

void read_server_section(YamlMap& server, ClientConfig& c) {
    auto kind = server.string("kind").value_or("");
    if (auto k = parse_server_kind(kind)) {
        c.kind = *k;
    } else {
        server.problem("kind", "expected versitygw or rest-server");
    }
    auto topo = server.string("topology").value_or("dedicated");
    if (auto t = parse_topology(topo)) {
        c.topology = *t;
    } else {
        server.problem("topology", "expected dedicated or shared");
    }
    c.address = server.string("address").value_or("");
    c.port = static_cast<int>(server.integer("port", 1, 65535).value_or(0));
    c.user = server.string("user").value_or("");
    c.bucket = server.string("bucket").value_or("");
    c.tls = server.boolean("tls").value_or(false);
    server.reject_unknown_keys();
    if (c.port == 0) {
        server.problem("port", "missing");
    }
}

void read_limits(YamlMap& top, ClientConfig& c) {
    auto limits = top.map("limits");
    if (!limits) {
        return;
    }
    c.append_only = limits->boolean("append_only").value_or(false);
    if (auto quota = limits->integer("quota", 1, INT64_MAX)) {
        c.quota = static_cast<std::uint64_t>(*quota);
    }
    limits->reject_unknown_keys();
    if ((c.append_only || c.quota) &&
        (c.kind != ServerKind::rest_server || c.topology != Topology::dedicated)) {
        limits->problem("", "limits are only for a dedicated rest-server");
    }
}

// Where the repository is: a storage server here (server, repository), or a remote primary
// (remote_repository, poll_interval_seconds, event_port) with neither.
void read_primary(YamlMap& top, ClientConfig& c) {
    c.remote_repository = top.string("remote_repository").value_or("");
    if (auto poll = top.integer("poll_interval_seconds", 1, 86400)) {
        c.poll_interval_seconds = static_cast<int>(*poll);
        if (!c.is_remote()) {
            top.problem("poll_interval_seconds", "only for a client with remote_repository");
        }
    }
    if (auto port = top.integer("event_port", 1, 65535)) {
        c.event_port = static_cast<int>(*port);
        if (!c.is_remote()) {
            top.problem("event_port", "only for a client with remote_repository");
        }
    }
    if (c.is_remote()) {
        if (auto ok = validate_rclone_remote(c.remote_repository, "remote_repository"); !ok) {
            top.problem("remote_repository", ok.error().message());
        }
        if (top.map("server")) {
            top.problem("server", "a client with remote_repository has no storage server here");
        }
        c.repository = top.string("repository").value_or("");
        if (!c.repository.empty()) {
            top.problem("repository", "a client with remote_repository has no repository here");
        }
        return;
    }
    if (auto server = top.map("server")) {
        read_server_section(*server, c);
    } else {
        top.problem("server", "missing (or give remote_repository)");
    }
    c.repository = top.string("repository").value_or("");
    if (!c.repository.is_absolute() || has_dotdot(c.repository)) {
        top.problem("repository", "expected an absolute path without '..'");
    }
}

} // namespace

util::Expected<ClientConfig> load_client_config(const std::string& path) {
    YAML::Node node = TRY(util::load_yaml_file(path));
    util::ConfigProblems problems(path);
    YamlMap top(node, "", problems);
    ClientConfig c;
    auto schema = top.integer("schema", 1, 1000);
    if (!schema) {
        top.problem("schema", "missing or invalid schema number");
    } else if (*schema != k_client_config_schema) {
        top.problem("schema", fmt::format("schema {} is not supported (this version reads {})",
                                          *schema, k_client_config_schema));
    }
    c.host = top.string("host").value_or("");
    if (auto ok = validate_host_name(c.host); !ok) {
        top.problem("host", ok.error().message());
    }
    read_primary(top, c);
    if (auto owner = top.map("owner")) {
        c.owner_user = owner->string("user").value_or("");
        c.owner_group = owner->string("group").value_or("");
        c.owner_created = owner->boolean("created").value_or(false);
        owner->reject_unknown_keys();
    }
    c.destinations = read_destinations(top, false);
    if (auto audit = top.map("audit")) {
        c.audit_fraction = static_cast<int>(audit->integer("fraction", 1, 10000).value_or(30));
        audit->reject_unknown_keys();
    }
    if (auto status = top.map("status")) {
        c.expected_interval_hours =
            static_cast<int>(status->integer("expected_interval_hours", 1, 24 * 366).value_or(26));
        status->reject_unknown_keys();
    }
    read_limits(top, c);
    if (auto created = top.string("created")) {
        c.created = util::parse_unix_time(*created);
        if (!c.created) {
            top.problem("created", "expected a time such as 2026-12-01T10:00:00Z");
        }
    }
    top.reject_unknown_keys();
    TRY(problems.result());
    return c;
}

std::string render_client_config(const ClientConfig& c) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "schema" << YAML::Value << k_client_config_schema;
    out << YAML::Key << "host" << YAML::Value << c.host;
    if (c.created) {
        out << YAML::Key << "created" << YAML::Value << util::format_time(*c.created);
    }
    if (c.is_remote()) {
        out << YAML::Key << "remote_repository" << YAML::Value << c.remote_repository;
        out << YAML::Key << "poll_interval_seconds" << YAML::Value << c.poll_interval_seconds;
        if (c.event_port) {
            out << YAML::Key << "event_port" << YAML::Value << *c.event_port;
        }
    } else {
        out << YAML::Key << "server" << YAML::Value << YAML::BeginMap;
        out << YAML::Key << "kind" << YAML::Value << std::string(to_string(c.kind));
        out << YAML::Key << "topology" << YAML::Value << std::string(to_string(c.topology));
        out << YAML::Key << "address" << YAML::Value << c.address;
        out << YAML::Key << "port" << YAML::Value << c.port;
        out << YAML::Key << "user" << YAML::Value << c.user;
        if (!c.bucket.empty()) {
            out << YAML::Key << "bucket" << YAML::Value << c.bucket;
        }
        out << YAML::Key << "tls" << YAML::Value << c.tls;
        out << YAML::EndMap;
        out << YAML::Key << "repository" << YAML::Value << c.repository.string();
    }
    out << YAML::Key << "owner" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "user" << YAML::Value << c.owner_user;
    out << YAML::Key << "group" << YAML::Value << c.owner_group;
    if (c.owner_created) {
        out << YAML::Key << "created" << YAML::Value << true;
    }
    out << YAML::EndMap;
    out << YAML::Key << "destinations" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : c.destinations) {
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << d.name;
        if (d.is_local()) {
            out << YAML::Key << "path" << YAML::Value << d.path.string();
        } else {
            out << YAML::Key << "remote" << YAML::Value << d.remote;
        }
        if (d.keep_deleted) {
            out << YAML::Key << "keep_deleted" << YAML::Value
                << format_keep_deleted(d.keep_deleted);
        }
        if (d.hold_above_percent != k_default_hold_deletions_percent || d.hold_above_bytes) {
            out << YAML::Key << "hold_deletions_above" << YAML::Value << YAML::BeginMap;
            out << YAML::Key << "snapshots" << YAML::Value
                << fmt::format("{}%", d.hold_above_percent);
            if (d.hold_above_bytes) {
                out << YAML::Key << "size" << YAML::Value << *d.hold_above_bytes;
            }
            out << YAML::EndMap;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::Key << "audit" << YAML::Value << YAML::BeginMap << YAML::Key << "fraction"
        << YAML::Value << c.audit_fraction << YAML::EndMap;
    out << YAML::Key << "status" << YAML::Value << YAML::BeginMap << YAML::Key
        << "expected_interval_hours" << YAML::Value << c.expected_interval_hours << YAML::EndMap;
    if (c.append_only || c.quota) {
        out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap << YAML::Key << "append_only"
            << YAML::Value << c.append_only;
        if (c.quota) {
            out << YAML::Key << "quota" << YAML::Value << *c.quota;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndMap;
    return fmt::format("# Written by new-restic-server: what was provisioned for {}.\n"
                       "# Destinations, audit and status settings may be edited by hand.\n{}\n",
                       c.host, out.c_str());
}

namespace {

// client_users: off, or a mapping with the prefix of their names.
void read_client_users(YamlMap& top, ServerConfig& c) {
    if (top.is_scalar("client_users")) {
        auto on = top.boolean("client_users");
        if (on && !*on) {
            c.client_users = false;
        } else {
            top.problem("client_users", "expected 'off' or a mapping {prefix: ...}");
        }
        return;
    }
    auto users = top.map("client_users");
    if (!users) {
        return;
    }
    c.client_user_prefix = users->string("prefix").value_or(c.client_user_prefix);
    users->reject_unknown_keys();
    if (auto ok = validate_client_user_prefix(c.client_user_prefix); !ok) {
        users->problem("prefix", ok.error().message());
    }
}

// tls: off, or a mapping (names, certificate and key, validity, ca_validity, client_ca_file).
void read_tls(YamlMap& top, TlsSettings& tls) {
    if (top.is_scalar("tls")) {
        auto off = top.boolean("tls");
        if (off && !*off) {
            tls.mode = TlsSettings::Mode::off;
        } else {
            top.problem("tls", "expected 'off' or a mapping (names, certificate, key, ...)");
        }
        return;
    }
    auto map = top.map("tls");
    if (!map) {
        return;
    }
    tls.names = map->string_list("names").value_or(std::vector<std::string>{});
    tls.certificate = map->string("certificate").value_or("");
    tls.key = map->string("key").value_or("");
    if (tls.certificate.empty() != tls.key.empty()) {
        map->problem("", "give both certificate and key, or neither (a private CA)");
    } else if (!tls.certificate.empty()) {
        tls.mode = TlsSettings::Mode::files;
        for (const auto* file : {&tls.certificate, &tls.key}) {
            if (!fs::path(*file).is_absolute()) {
                map->problem(file == &tls.key ? "key" : "certificate", "expected an absolute path");
            }
        }
    }
    tls.validity = map->duration("validity").value_or(tls.validity);
    tls.ca_validity = map->duration("ca_validity").value_or(tls.ca_validity);
    tls.client_ca_file = map->string("client_ca_file").value_or(tls.client_ca_file);
    if (!fs::path(tls.client_ca_file).is_absolute()) {
        map->problem("client_ca_file", "expected an absolute path (on the client)");
    }
    map->reject_unknown_keys();
}

} // namespace

std::string default_client_address(const ServerConfig& server) {
    if (!server.public_address.empty()) {
        return server.public_address;
    }
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

util::Expected<ServerConfig> load_server_config(const std::string& path, bool explicit_path) {
    ServerConfig c;
    struct stat st {};
    if (!explicit_path && ::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
        return c;
    }
    auto node = util::load_yaml_file(path);
    if (!node) {
        return std::unexpected(node.error().with_code(ExitCode::permanent));
    }
    util::ConfigProblems problems(path);
    YamlMap top(*node, "", problems);
    read_tls(top, c.tls);
    read_status_settings(top, c.status);
    if (auto root = top.string("root")) {
        c.root = *root;
        if (!c.root.is_absolute() || has_dotdot(c.root)) {
            top.problem("root", "expected an absolute path without '..'");
        } else if (!is_script_safe(c.root.string())) {
            // It goes into every run script, unquoted.
            top.problem("root", "expected only letters, digits and / . _ : , = + @ - in the path");
        }
    }
    if (auto kind = top.string("server")) {
        if (auto k = parse_server_kind(*kind)) {
            c.kind = *k;
        } else {
            top.problem("server", "expected versitygw or rest-server");
        }
    }
    if (auto topo = top.string("topology")) {
        if (auto t = parse_topology(*topo)) {
            c.topology = *t;
        } else {
            top.problem("topology", "expected dedicated or shared");
        }
    }
    c.listen_address = top.string("listen_address").value_or(c.listen_address);
    c.public_address = top.string("public_address").value_or("");
    if (auto ports = top.map("ports")) {
        c.port_min = static_cast<int>(ports->integer("min", 1, 65535).value_or(c.port_min));
        c.port_max = static_cast<int>(ports->integer("max", 1, 65535).value_or(c.port_max));
        ports->reject_unknown_keys();
        if (c.port_min > c.port_max) {
            ports->problem("", "min is above max");
        }
    }
    if (auto owner = top.map("owner")) {
        c.owner_user = owner->string("user").value_or(c.owner_user);
        c.owner_group = owner->string("group").value_or(c.owner_group);
        owner->reject_unknown_keys();
    }
    read_client_users(top, c);
    if (auto rs = top.map("rest_server")) {
        c.append_only = rs->boolean("append_only").value_or(false);
        if (auto size = rs->string("max_size")) {
            c.max_size = util::parse_size(*size);
            if (!c.max_size) {
                rs->problem("max_size", "expected a number of bytes, optionally with K, M, G or T");
            }
        }
        rs->reject_unknown_keys();
    }
    c.audit_fraction = static_cast<int>(top.integer("audit_fraction", 1, 10000).value_or(30));
    c.destinations = read_destinations(top, true);
    if (auto bin = top.map("binaries")) {
        c.versitygw_binary = bin->string("versitygw").value_or("");
        c.rest_server_binary = bin->string("rest-server").value_or("");
        c.backup_syncd_binary = bin->string("backup-syncd").value_or("");
        c.restic_replicate_binary = bin->string("restic-replicate").value_or("");
        bin->reject_unknown_keys();
    }
    top.reject_unknown_keys();
    TRY(problems.result());
    return c;
}

} // namespace backup::core
