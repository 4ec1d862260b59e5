#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include "model/config.hpp"
#include "util/fs.hpp"

using namespace backup::core;
using namespace backup::util;

namespace {

ClientConfig sample() {
    ClientConfig c;
    c.host = "web1";
    c.kind = ServerKind::versitygw;
    c.address = "backup.example.com";
    c.port = 8101;
    c.user = "web1";
    c.bucket = "web1";
    c.repository = "/backups/systems/web1/data/web1";
    c.owner_user = "restic";
    c.owner_group = "restic";
    c.destinations = {{"disk2", "/mnt/disk2/web1", ""}, {"b2", "", "b2:bucket/web1"}};
    c.audit_fraction = 7;
    return c;
}

using backup::test::all_messages;

} // namespace

TEST_CASE("a client config round-trips through its YAML file") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/client.yaml";
    REQUIRE(atomic_write(path, render_client_config(sample()), 0644));
    auto loaded = load_client_config(path);
    REQUIRE(loaded);
    CHECK(loaded->host == "web1");
    CHECK(loaded->kind == ServerKind::versitygw);
    CHECK(loaded->port == 8101);
    CHECK(loaded->repository == "/backups/systems/web1/data/web1");
    REQUIRE(loaded->destinations.size() == 2);
    CHECK(loaded->destinations[0].path == "/mnt/disk2/web1");
    CHECK(loaded->destinations[1].remote == "b2:bucket/web1");
    CHECK(loaded->audit_fraction == 7);
    CHECK(loaded->repository_url() == "s3:http://backup.example.com:8101/web1");

    ClientConfig rest = sample();
    rest.kind = ServerKind::rest_server;
    CHECK(rest.repository_url() == "rest:http://backup.example.com:8101/web1/");
}

TEST_CASE("a bad client config reports every problem with its line") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/client.yaml";
    REQUIRE(atomic_write(path,
                         "schema: 1\n"
                         "host: ../web1\n"
                         "server: {kind: minio, port: 8101}\n"
                         "repository: relative/path\n"
                         "destinations:\n"
                         "  - name: x\n"
                         "    remote: ':s3,access_key_id=AKIA:bucket'\n"
                         "colour: blue\n",
                         0644));
    auto loaded = load_client_config(path);
    REQUIRE_FALSE(loaded);
    std::string text = all_messages(loaded.error());
    CHECK(text.find("client.yaml:2: key 'host'") != std::string::npos);
    CHECK(text.find("client.yaml:3: key 'server.kind'") != std::string::npos);
    CHECK(text.find("client.yaml:4: key 'repository'") != std::string::npos);
    CHECK(text.find("rclone remote") != std::string::npos);
    CHECK(text.find("client.yaml:8: key 'colour': unknown key") != std::string::npos);
}

TEST_CASE("destinations need exactly one of path and remote, and safe values") {
    CHECK(validate_destination({"disk2", "/mnt/disk2", ""}));
    CHECK(validate_destination({"b2", "", "b2:bucket/web1"}));
    CHECK_FALSE(validate_destination({"both", "/mnt", "b2:x"}));
    CHECK_FALSE(validate_destination({"none", "", ""}));
    CHECK_FALSE(validate_destination({"rel", "mnt/disk2", ""}));
    CHECK_FALSE(validate_destination({"dots", "/mnt/../etc", ""}));
    CHECK_FALSE(validate_destination({"Bad Name", "/mnt", ""}));
    CHECK_FALSE(validate_destination({"conn", "", ":s3,secret_access_key=x:bucket"}));
}

TEST_CASE("a remote-primary client config round-trips without server or repository") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/client.yaml";
    ClientConfig c = sample();
    c.repository.clear();
    c.remote_repository = "store:backups/web1";
    c.poll_interval_seconds = 90;
    std::string text = render_client_config(c);
    CHECK(text.find("\nserver:") == std::string::npos);
    CHECK(text.find("repository: /") == std::string::npos);
    REQUIRE(atomic_write(path, text, 0644));
    auto loaded = load_client_config(path);
    REQUIRE(loaded);
    CHECK(loaded->is_remote());
    CHECK(loaded->remote_repository == "store:backups/web1");
    CHECK(loaded->poll_interval_seconds == 90);
    CHECK_FALSE(loaded->event_port);
    CHECK(text.find("event_port") == std::string::npos);
    CHECK(loaded->repository.empty());
    CHECK(loaded->destinations.size() == 2);

    // With the port of backup-syncd's event listener.
    c.event_port = 8470;
    REQUIRE(atomic_write(path, render_client_config(c), 0644));
    auto with_events = load_client_config(path);
    REQUIRE(with_events);
    CHECK(with_events->event_port == 8470);

    // Without the key: the default interval.
    REQUIRE(atomic_write(path,
                         "schema: 1\nhost: web1\nremote_repository: store:backups/web1\n"
                         "owner: {user: restic, group: restic}\n",
                         0644));
    auto defaulted = load_client_config(path);
    REQUIRE(defaulted);
    CHECK(defaulted->poll_interval_seconds == 60);
}

TEST_CASE("a bad remote-primary client config reports every problem with its line") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/client.yaml";
    REQUIRE(atomic_write(path,
                         "schema: 1\n"
                         "host: web1\n"
                         "remote_repository: ':s3,access_key_id=AKIA:bucket'\n"
                         "poll_interval_seconds: 0\n"
                         "server: {kind: versitygw, port: 8101}\n"
                         "repository: /backups/systems/web1/data/web1\n",
                         0644));
    auto loaded = load_client_config(path);
    REQUIRE_FALSE(loaded);
    std::string text = all_messages(loaded.error());
    CHECK(text.find("client.yaml:3: key 'remote_repository'") != std::string::npos);
    CHECK(text.find("rclone remote") != std::string::npos);
    CHECK(text.find("client.yaml:4: key 'poll_interval_seconds'") != std::string::npos);
    CHECK(text.find("client.yaml:5: key 'server'") != std::string::npos);
    CHECK(text.find("client.yaml:6: key 'repository'") != std::string::npos);

    // An interval belongs to a remote primary only.
    REQUIRE(atomic_write(path,
                         "schema: 1\nhost: web1\npoll_interval_seconds: 30\n"
                         "server: {kind: versitygw, port: 8101}\n"
                         "repository: /backups/systems/web1/data/web1\n",
                         0644));
    auto local = load_client_config(path);
    REQUIRE_FALSE(local);
    CHECK(all_messages(local.error()).find("client.yaml:3: key 'poll_interval_seconds'") !=
          std::string::npos);

    // So does an event port, which is a port.
    REQUIRE(atomic_write(path,
                         "schema: 1\nhost: web1\nevent_port: 8470\n"
                         "server: {kind: versitygw, port: 8101}\n"
                         "repository: /backups/systems/web1/data/web1\n",
                         0644));
    auto local_events = load_client_config(path);
    REQUIRE_FALSE(local_events);
    CHECK(all_messages(local_events.error()).find("client.yaml:3: key 'event_port'") !=
          std::string::npos);
    REQUIRE(atomic_write(path,
                         "schema: 1\nhost: web1\nremote_repository: store:backups/web1\n"
                         "event_port: 70000\nowner: {user: restic, group: restic}\n",
                         0644));
    auto bad_port = load_client_config(path);
    REQUIRE_FALSE(bad_port);
    CHECK(all_messages(bad_port.error()).find("client.yaml:4: key 'event_port'") !=
          std::string::npos);
}

TEST_CASE("an rclone remote is a named remote and a path, never a connection string") {
    CHECK(validate_rclone_remote("store:backups/web1", "remote_repository"));
    CHECK(validate_rclone_remote("my-store_2:b", "remote_repository"));
    CHECK_FALSE(validate_rclone_remote("backups/web1", "remote_repository"));
    CHECK_FALSE(validate_rclone_remote(":s3:bucket", "remote_repository"));
    CHECK_FALSE(validate_rclone_remote("s3,endpoint=x:bucket", "remote_repository"));
    CHECK_FALSE(validate_rclone_remote("store:../other", "remote_repository"));
    CHECK_FALSE(validate_rclone_remote("a/b:bucket", "remote_repository"));
    auto refused = validate_rclone_remote("nope", "remote_repository");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == ExitCode::permanent);
}

TEST_CASE("the server config: defaults when absent, errors when named and missing") {
    auto defaults = load_server_config("/nonexistent/server.yaml", false);
    REQUIRE(defaults);
    CHECK(defaults->root == "/backups");
    CHECK(defaults->kind == ServerKind::versitygw);
    CHECK_FALSE(load_server_config("/nonexistent/server.yaml", true));

    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    REQUIRE(atomic_write(path,
                         "root: /srv/backups\n"
                         "server: rest-server\n"
                         "ports: {min: 9000, max: 9010}\n"
                         "owner: {user: backup, group: backup}\n"
                         "rest_server: {append_only: true, max_size: '1000000'}\n"
                         "destinations:\n"
                         "  - {name: disk2, path: '/mnt/disk2/{host}'}\n"
                         "  - {name: b2, remote: 'b2:my-bucket/{host}'}\n",
                         0644));
    auto c = load_server_config(path, true);
    INFO((c ? std::string() : c.error().message()));
    REQUIRE(c);
    CHECK(c->root == "/srv/backups");
    CHECK(c->kind == ServerKind::rest_server);
    CHECK(c->port_min == 9000);
    CHECK(c->port_max == 9010);
    CHECK(c->owner_user == "backup");
    CHECK(c->append_only);
    CHECK(c->max_size == std::optional<std::uint64_t>(1000000));
    CHECK(c->tls.mode == TlsSettings::Mode::private_ca); // TLS unless the config says otherwise
    // The README's example: "{host}" in a remote is a template, not rclone's {} syntax.
    REQUIRE(c->destinations.size() == 2);
    CHECK(c->destinations[1].remote == "b2:my-bucket/{host}");
}

TEST_CASE("server config: tls is off, given files, or the server's own CA") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    auto load = [&](const std::string& text) {
        REQUIRE(atomic_write(path, text, 0644));
        return load_server_config(path, true);
    };
    auto off = load("tls: off\n");
    REQUIRE(off);
    CHECK(off->tls.mode == TlsSettings::Mode::off);
    auto files =
        load("tls: {certificate: /etc/ssl/b.pem, key: /etc/ssl/b.key, names: [b.example]}\n");
    REQUIRE(files);
    CHECK(files->tls.mode == TlsSettings::Mode::files);
    CHECK(files->tls.names == std::vector<std::string>{"b.example"});
    auto ca =
        load("tls: {validity: 90d, ca_validity: 3650d, client_ca_file: /etc/restic/ca.pem}\n");
    REQUIRE(ca);
    CHECK(ca->tls.mode == TlsSettings::Mode::private_ca);
    CHECK(ca->tls.validity == std::chrono::seconds(90 * 86400));
    CHECK(ca->tls.client_ca_file == "/etc/restic/ca.pem");
    for (const char* bad :
         {"tls: on\n", "tls: {certificate: /a.pem}\n", "tls: {validity: 0}\n",
          "tls: {key: relative.key, certificate: c.pem}\n", "tls: {nmes: []}\n"}) {
        INFO(bad);
        auto refused = load(bad);
        REQUIRE_FALSE(refused);
        CHECK(refused.error().message().find("server.yaml:1") != std::string::npos);
    }
}

TEST_CASE("server config: status settings and notification targets") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    REQUIRE(atomic_write(path, R"(status:
  fill_warning: 7d
  notify_min_interval: 5m
  notify:
    - {webhook: 'https://ntfy.example.com/backups', format: ntfy,
       token_file: /etc/restic-backup/ntfy-token}
    - {name: ops, email: [ops@example.com, oncall@example.com], from: backup@example.com}
    - {command: [/usr/local/bin/page, --team, backup]}
)",
                         0644));
    auto c = load_server_config(path, true);
    INFO((c ? std::string() : all_messages(c.error())));
    REQUIRE(c);
    CHECK(c->status.fill_warning == std::chrono::seconds(7 * 86400));
    CHECK(c->status.notify_min_interval == std::chrono::seconds(300));
    REQUIRE(c->status.notify.size() == 3);
    CHECK(c->status.notify[0].kind == NotifyTarget::Kind::webhook);
    CHECK(c->status.notify[0].name == "webhook ntfy.example.com");
    CHECK(c->status.notify[0].format == "ntfy");
    CHECK(c->status.notify[1].kind == NotifyTarget::Kind::email);
    CHECK(c->status.notify[1].name == "ops");
    CHECK(c->status.notify[1].to.size() == 2);
    CHECK(c->status.notify[2].argv.at(0) == "/usr/local/bin/page");
    CHECK(c->status.notify[2].name == "command page");

    REQUIRE(atomic_write(path, R"(status:
  fill_warning: soon
  notify:
    - {webhook: 'https://user:secret@hooks.example.com/x'}
    - {webhook: 'ftp://example.com', format: xml}
    - {email: 'ops@example.com, evil@example.com'}
    - {command: [page]}
    - {webhook: 'https://a.example.com', command: [/bin/true]}
)",
                         0644));
    auto bad = load_server_config(path, true);
    REQUIRE_FALSE(bad);
    std::string text = all_messages(bad.error());
    INFO(text);
    CHECK(text.find("status.fill_warning") != std::string::npos);
    CHECK(text.find("use token_file") != std::string::npos);
    CHECK(text.find("http:// or https://") != std::string::npos);
    CHECK(text.find("expected json, slack") != std::string::npos);
    CHECK(text.find("not a plain address") != std::string::npos);
    CHECK(text.find("an absolute program path") != std::string::npos);
    CHECK(text.find("exactly one of webhook, email or command") != std::string::npos);
}

TEST_CASE("server config: a root that cannot go into a run script is refused with its line") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    for (const char* root : {"/srv/back ups", "/srv/back#ups", "/srv/{root}", "/srv/$HOME"}) {
        REQUIRE(atomic_write(path, fmt::format("server: rest-server\nroot: '{}'\n", root), 0644));
        auto c = load_server_config(path, true);
        INFO(root);
        REQUIRE_FALSE(c);
        CHECK(c.error().message().find(path + ":2: key 'root'") != std::string::npos);
    }
}

TEST_CASE("server config: a webhook goes over https, plain http only to this machine, tokens "
          "stay out of the config") {
    auto dir = TempDir::create_in_tmp("unit-config");
    REQUIRE(dir);
    std::string path = dir->str() + "/server.yaml";
    REQUIRE(atomic_write(path, R"(status:
  notify_min_interval: 0
  notify:
    - {webhook: 'http://127.0.0.1:8080/hook', min_interval: 0, timeout: 5s}
    - {webhook: 'http://localhost/x'}
    - {webhook: 'http://[::1]:9/x'}
    - {webhook: 'https://hooks.slack.com/services/{token}', format: slack,
       token_file: /etc/restic-backup/slack, ca_file: /etc/ssl/private-ca.pem, min_interval: 1h}
)",
                         0644));
    auto c = load_server_config(path, true);
    INFO((c ? std::string() : all_messages(c.error())));
    REQUIRE(c);
    CHECK(c->status.notify_min_interval == std::chrono::seconds(0));
    REQUIRE(c->status.notify.size() == 4);
    CHECK(c->status.notify[0].min_interval == std::chrono::seconds(0));
    CHECK(c->status.notify[0].timeout == std::chrono::seconds(5));
    CHECK(c->status.notify[0].name == "webhook 127.0.0.1:8080");
    CHECK_FALSE(c->status.notify[1].min_interval);
    CHECK(c->status.notify[1].timeout == std::chrono::seconds(30));
    CHECK(c->status.notify[3].name == "webhook hooks.slack.com");
    CHECK(c->status.notify[3].ca_file == "/etc/ssl/private-ca.pem");
    CHECK(c->status.notify[3].min_interval == std::chrono::seconds(3600));

    REQUIRE(atomic_write(path, R"(status:
  notify:
    - {webhook: 'http://ntfy.example.com/backups'}
    - {webhook: 'http://127.0.0.1.evil.example/x'}
    - {webhook: 'https://hooks.example.com/{token}'}
    - {webhook: 'https://{token}.example.com/', token_file: /etc/t}
    - {webhook: 'https://a.example.com/x y'}
    - {webhook: 'https://b.example.com', ca_file: ca.pem, timeout: 1h}
    - {email: ops@example.com, ca_file: /etc/ca.pem, min_interval: soon}
)",
                         0644));
    auto bad = load_server_config(path, true);
    REQUIRE_FALSE(bad);
    std::string text = all_messages(bad.error());
    INFO(text);
    CHECK(text.find("server.yaml:3: key 'status.notify[0].webhook': plain http:// only to this "
                    "machine") != std::string::npos);
    CHECK(text.find("server.yaml:4: key 'status.notify[1].webhook': plain http://") !=
          std::string::npos);
    CHECK(text.find("{token} in the URL needs token_file") != std::string::npos);
    CHECK(text.find("{token} may stand in the path or query only") != std::string::npos);
    CHECK(text.find("white space") != std::string::npos);
    CHECK(text.find("key 'status.notify[5].ca_file': expected an absolute path") !=
          std::string::npos);
    CHECK(text.find("key 'status.notify[5].timeout': expected at most 10m") != std::string::npos);
    CHECK(text.find("key 'status.notify[6].ca_file': unknown key") != std::string::npos);
    CHECK(text.find("key 'status.notify[6].min_interval': expected 0 or a duration") !=
          std::string::npos);
}
