#include "model/environ.hpp"
#include "util/fs.hpp"
#include "wrapper/config.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <filesystem>

using namespace backup;
using namespace backup::core;

namespace {

using backup::test::all_messages;

} // namespace

TEST_CASE("restic-wrapper config: an empty file means the original daily script", "[wrapper]") {
    auto c = parse_wrapper_config("", "w.yaml");
    REQUIRE(c);
    CHECK(c->include_file == "/etc/restic/include-files");
    CHECK(c->exclude_file == "/etc/restic/exclude-files");
    CHECK_FALSE(c->exclude_file_required);
    CHECK(c->root == "/");
    CHECK(c->host.empty());
    CHECK(c->tags == std::vector<std::string>{"daily"});
    CHECK(c->backup_flags.empty());
    CHECK(c->state_dir == "/var/lib/restic-wrapper");
    CHECK_FALSE(c->timeout_seconds);
    CHECK(c->unlock_stale_locks);
    CHECK_FALSE(c->retention);
    CHECK_FALSE(c->check);
    CHECK_FALSE(c->nice);
    CHECK_FALSE(c->io_priority);
    CHECK(c->before.empty());
    CHECK(c->after.empty());
    CHECK(c->on_failure.empty());
    CHECK(c->prometheus_textfile.empty());
}

TEST_CASE("restic-wrapper config: every key is read", "[wrapper]") {
    auto c = parse_wrapper_config(R"(
include_file: /srv/inc
exclude_file: /srv/exc
root: /mnt/snap
host: web1
tags: [daily, db]
backup_flags: [--one-file-system, --exclude-larger-than, 1G]
state_dir: /srv/state
timeout: 6h30m
unlock_stale_locks: false
retention:
  keep_last: 3
  keep_daily: 7
  keep_within: 1y6m
  prune: true
  flags: [--max-unused, 5%]
check:
  read_data_subsets: 30
nice: 10
ionice:
  class: best-effort
  level: 7
hooks:
  before:
    - command: [/usr/local/sbin/dump-db, --all]
      timeout: 1h
  after:
    - command: [rm, -f, /var/backups/db.sql]
  on_failure:
    - command: [logger, -t, backup, failed]
prometheus_textfile: /var/lib/node_exporter/restic.prom
)",
                                  "w.yaml");
    if (!c) {
        FAIL(all_messages(c.error()));
    }
    CHECK(c->include_file == "/srv/inc");
    CHECK(c->exclude_file == "/srv/exc");
    CHECK(c->exclude_file_required);
    CHECK(c->root == "/mnt/snap");
    CHECK(c->host == "web1");
    CHECK(c->tags == std::vector<std::string>{"daily", "db"});
    CHECK(c->backup_flags ==
          std::vector<std::string>{"--one-file-system", "--exclude-larger-than", "1G"});
    CHECK(c->state_dir == "/srv/state");
    CHECK(c->timeout_seconds == 6 * 3600 + 30 * 60);
    CHECK_FALSE(c->unlock_stale_locks);
    REQUIRE(c->retention);
    using Keep = std::vector<std::pair<std::string, std::string>>;
    CHECK(c->retention->keep ==
          Keep{{"--keep-last", "3"}, {"--keep-daily", "7"}, {"--keep-within", "1y6m"}});
    CHECK(c->retention->prune);
    CHECK(c->retention->flags == std::vector<std::string>{"--max-unused", "5%"});
    REQUIRE(c->check);
    CHECK(c->check->subsets == 30);
    CHECK(c->nice == 10);
    REQUIRE(c->io_priority);
    CHECK(c->io_priority->io_class == IoClass::best_effort);
    CHECK(c->io_priority->level == 7);
    REQUIRE(c->before.size() == 1);
    CHECK(c->before[0].argv == std::vector<std::string>{"/usr/local/sbin/dump-db", "--all"});
    CHECK(c->before[0].timeout_seconds == 3600);
    REQUIRE(c->after.size() == 1);
    CHECK_FALSE(c->after[0].timeout_seconds);
    REQUIRE(c->on_failure.size() == 1);
    CHECK(c->on_failure[0].argv.front() == "logger");
    CHECK(c->prometheus_textfile == "/var/lib/node_exporter/restic.prom");
}

TEST_CASE("restic-wrapper config: unknown keys are errors naming file, line and key", "[wrapper]") {
    auto c = parse_wrapper_config("tags: [daily]\n"                  // 1
                                  "incude_file: /etc/x\n"            // 2
                                  "retention:\n"                     // 3
                                  "  keep_daily: 7\n"                // 4
                                  "  kep_weekly: 4\n"                // 5
                                  "hooks:\n"                         // 6
                                  "  before:\n"                      // 7
                                  "    - command: [true]\n"          // 8
                                  "      timout: 5m\n"               // 9
                                  "  afterwards: []\n"               // 10
                                  "ionice: {class: idle, lvl: 3}\n", // 11
                                  "/etc/restic/restic-wrapper.yaml");
    REQUIRE_FALSE(c);
    CHECK(c.error().code() == util::ExitCode::permanent);
    std::string text = all_messages(c.error());
    INFO(text);
    CHECK(text.find("/etc/restic/restic-wrapper.yaml:2: key 'incude_file': unknown key") !=
          std::string::npos);
    CHECK(text.find("restic-wrapper.yaml:5: key 'retention.kep_weekly': unknown key") !=
          std::string::npos);
    CHECK(text.find("restic-wrapper.yaml:9: key 'hooks.before[0].timout': unknown key") !=
          std::string::npos);
    CHECK(text.find("restic-wrapper.yaml:10: key 'hooks.afterwards': unknown key") !=
          std::string::npos);
    CHECK(text.find("restic-wrapper.yaml:11: key 'ionice.lvl': unknown key") != std::string::npos);
    CHECK(1 + c.error().more().size() == 5);
}

TEST_CASE("restic-wrapper config: bad values are all reported with their lines", "[wrapper]") {
    auto c = parse_wrapper_config("root: relative/path\n"                   // 1
                                  "tags: ['a,b']\n"                         // 2
                                  "nice: 30\n"                              // 3
                                  "timeout: soon\n"                         // 4
                                  "retention:\n"                            // 5
                                  "  prune: true\n"                         // 6
                                  "check:\n"                                // 7
                                  "  read_data_subsets: 300\n"              // 8
                                  "ionice: {class: urgent}\n"               // 9
                                  "hooks:\n"                                // 10
                                  "  after:\n"                              // 11
                                  "    - timeout: 5m\n"                     // 12
                                  "prometheus_textfile: /tmp/metrics.txt\n" // 13
                                  "unlock_stale_locks: maybe\n",            // 14
                                  "w.yaml");
    REQUIRE_FALSE(c);
    std::string text = all_messages(c.error());
    INFO(text);
    for (int line : {1, 2, 3, 4, 6, 8, 9, 12, 13, 14}) {
        CHECK(text.find(fmt::format("w.yaml:{}:", line)) != std::string::npos);
    }
    CHECK(text.find("key 'root': expected an absolute path") != std::string::npos);
    CHECK(text.find("restic splits tags at commas") != std::string::npos);
    CHECK(text.find("key 'retention': expected at least one keep_* key") != std::string::npos);
    CHECK(text.find("key 'hooks.after[0]': expected 'command'") != std::string::npos);
}

TEST_CASE("restic-wrapper config: a YAML syntax error names the line", "[wrapper]") {
    auto c = parse_wrapper_config("tags: [daily\nroot: /\n", "w.yaml");
    REQUIRE_FALSE(c);
    CHECK(c.error().code() == util::ExitCode::permanent);
    CHECK(c.error().message().find("w.yaml:") != std::string::npos);
}

TEST_CASE("restic-wrapper config: durations", "[wrapper]") {
    // The grammar is util::parse_duration's (test_util_text.cpp); a timeout must not be zero.
    auto zero = parse_wrapper_config("timeout: 0\n", "w.yaml");
    REQUIRE_FALSE(zero);
    CHECK(zero.error().message().find("timeout") != std::string::npos);
    auto ninety = parse_wrapper_config("timeout: 1h30m\n", "w.yaml");
    REQUIRE(ninety);
    CHECK(ninety->timeout_seconds == 5400);
    CHECK(is_restic_duration("30d"));
    CHECK(is_restic_duration("1y5m7d2h"));
    CHECK_FALSE(is_restic_duration(""));
    CHECK_FALSE(is_restic_duration("30"));
    CHECK_FALSE(is_restic_duration("30s"));
    CHECK_FALSE(is_restic_duration("d"));
}

TEST_CASE("restic-wrapper config: the default file may be absent, a named one may not",
          "[wrapper]") {
    auto dir = util::TempDir::create_in_tmp("unit-wrapper-config");
    REQUIRE(dir);
    std::string path = (dir->path() / "absent.yaml").string();
    auto defaults = load_wrapper_config(path, false);
    REQUIRE(defaults);
    CHECK(defaults->tags == std::vector<std::string>{"daily"});
    auto required = load_wrapper_config(path, true);
    REQUIRE_FALSE(required);
    CHECK(required.error().code() == util::ExitCode::permanent);
    CHECK(required.error().message().find(path) != std::string::npos);

    std::string present = (dir->path() / "w.yaml").string();
    REQUIRE(util::atomic_write(present, "tags: [nightly]\n", 0644));
    auto loaded = load_wrapper_config(present, false);
    REQUIRE(loaded);
    CHECK(loaded->tags == std::vector<std::string>{"nightly"});
}

TEST_CASE("restic-wrapper config: the examples in examples/ are valid", "[wrapper]") {
    // This file is tests/unit/...; the examples are in examples/ at the top of the source tree.
    auto examples =
        std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "examples";
    auto c = load_wrapper_config((examples / "restic-wrapper.yaml").string(), true);
    if (!c) {
        FAIL(all_messages(c.error()));
    }
    CHECK(c->tags == std::vector<std::string>{"daily"});
    CHECK(c->root == "/");
    REQUIRE(c->retention);
    CHECK(c->retention->keep.size() == 3);
    REQUIRE(c->check);
    CHECK(c->check->subsets == 30);
    CHECK(c->nice == 10);

    auto text = util::read_file((examples / "environ").string());
    REQUIRE(text);
    auto environ_lines = parse_environ(*text, "examples/environ");
    if (!environ_lines) {
        FAIL(all_messages(environ_lines.error()));
    }
    std::vector<std::string> names;
    for (const auto& a : *environ_lines) {
        names.push_back(a.name);
    }
    CHECK(names == std::vector<std::string>{"RESTIC_REPOSITORY", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY", "RESTIC_PASSWORD_FILE"});
}
