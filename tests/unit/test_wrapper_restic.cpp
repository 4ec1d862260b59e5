#include "wrapper/restic.hpp"

#include <catch2/catch.hpp>
#include <csignal>

using namespace backup;
using namespace backup::core;
using util::ExitCode;

namespace {

util::ProcessResult exited(int code, std::string err = {}) {
    util::ProcessResult r;
    r.wait_status = code << 8; // as waitpid reports a normal exit
    r.err = std::move(err);
    return r;
}

// Lines as restic 0.18 prints them with --json (captured from real runs).
constexpr const char* k_exit_12 =
    R"({"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"})"
    "\n";
constexpr const char* k_exit_10 =
    R"({"message_type":"exit_error","code":10,"message":"Fatal: repository does not exist: )"
    R"(unable to open config file: Stat: The specified key does not exist.\nIs there a )"
    R"(repository at the following location?\ns3:http://127.0.0.1:8101/web1/x"})"
    "\n";

} // namespace

TEST_CASE("restic-wrapper: restic's exit codes map onto the toolkit's table", "[wrapper]") {
    CHECK(map_restic_exit(ResticStep::backup, exited(0)) == ExitCode::ok);
    CHECK(map_restic_exit(ResticStep::backup, exited(3)) == ExitCode::findings);
    CHECK(map_restic_exit(ResticStep::backup, exited(10, k_exit_10)) == ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::unlock, exited(10)) == ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::backup, exited(11)) == ExitCode::temporary);
    CHECK(map_restic_exit(ResticStep::backup, exited(12, k_exit_12)) == ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::backup, exited(130)) == ExitCode::temporary);
    CHECK(map_restic_exit(ResticStep::backup, exited(2)) == ExitCode::temporary);
    // 1: temporary unless clearly permanent.
    CHECK(map_restic_exit(ResticStep::backup,
                          exited(1, "Fatal: unable to open config file: Stat: dial tcp "
                                    "127.0.0.1:9: connect: connection refused\n")) ==
          ExitCode::temporary);
    CHECK(
        map_restic_exit(
            ResticStep::backup,
            exited(1, R"({"message_type":"exit_error","code":1,"message":"unknown flag: --bogus"})"
                      "\n")) == ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::forget,
                          exited(1, "Fatal: invalid argument \"x\" for \"--keep-last\" flag\n")) ==
          ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::check, exited(1, "Fatal: repository contains errors\n")) ==
          ExitCode::findings);
    CHECK(map_restic_exit(ResticStep::backup, exited(1, "Fatal: repository contains errors\n")) ==
          ExitCode::temporary);
    // A server certificate restic does not trust: no retry helps (restic 0.18 and 0.19 wording).
    CHECK(map_restic_exit(ResticStep::unlock,
                          exited(1, "Fatal: unable to open config file: Stat: Head "
                                    "\"https://127.0.0.1:8100/web1/config\": tls: failed to verify "
                                    "certificate: x509: certificate signed by unknown authority\n"
                                    "Is there a repository at the following location?\n")) ==
          ExitCode::permanent);
    CHECK(map_restic_exit(ResticStep::backup,
                          exited(1, "Fatal: unable to open config file: Stat: Head "
                                    "\"https://10.0.0.1:8100/config\": x509: certificate is valid "
                                    "for 10.0.0.2, not 10.0.0.1\n")) == ExitCode::permanent);
    // Killed, or stopped at the timeout.
    util::ProcessResult killed;
    killed.wait_status = SIGKILL;
    CHECK(map_restic_exit(ResticStep::backup, killed) == ExitCode::temporary);
    auto timed_out = exited(0);
    timed_out.timed_out = true;
    CHECK(map_restic_exit(ResticStep::backup, timed_out) == ExitCode::temporary);
}

TEST_CASE("restic-wrapper: restic's explanation is one line", "[wrapper]") {
    CHECK(restic_failure_message(k_exit_12) == "wrong password or no key found");
    CHECK(restic_failure_message(k_exit_10) ==
          "repository does not exist: unable to open config file: Stat: The specified key does "
          "not exist.");
    CHECK(restic_failure_message("Stat(<config/>) returned error, retrying after 1s: x\n"
                                 "Fatal: unable to open config file: context canceled\n"
                                 "Is there a repository at the following location?\n"
                                 "s3:http://127.0.0.1:1/web1\n") ==
          "unable to open config file: context canceled");
    CHECK(restic_failure_message("first\nsecond line  \n\n") == "second line");
    CHECK(restic_failure_message("").empty());
    CHECK(describe_restic_failure(exited(12, k_exit_12)) ==
          "wrong password or no key found (restic exit status 12); check RESTIC_PASSWORD_FILE in "
          "the environ file");
    CHECK(describe_restic_failure(exited(10, k_exit_10))
              .ends_with("(restic exit status 10); create it with 'restic-wrapper init'"));
    CHECK(describe_restic_failure(exited(7)) == "restic exit status 7");
    auto timed_out = exited(130, "Stat(<config/>) returned error, retrying after 1.2s: dial tcp: "
                                 "connection refused\n");
    timed_out.timed_out = true;
    CHECK(describe_restic_failure(timed_out) ==
          "restic did not finish within the configured timeout and was stopped; its last "
          "message: Stat(<config/>) returned error, retrying after 1.2s: dial tcp: connection "
          "refused");
}

TEST_CASE("restic-wrapper: backup --json output gives the snapshot, summary and unreadable "
          "paths",
          "[wrapper]") {
    std::string out =
        R"({"message_type":"status","percent_done":0.5})"
        "\n"
        R"({"message_type":"summary","files_new":2,"files_changed":1,"files_unmodified":5,)"
        R"("dirs_new":4,"dirs_changed":1,"dirs_unmodified":2,"data_blobs":2,"tree_blobs":5,)"
        R"("data_added":2091,"data_added_packed":1543,"total_files_processed":8,)"
        R"("total_bytes_processed":4,"total_duration":0.85,)"
        R"("backup_start":"2026-11-28T11:17:24.78Z","backup_end":"2026-11-28T11:17:25.63Z",)"
        R"("snapshot_id":"c04586646df4cdf1f6221af46b6c27dbb599c1011c4b006ced96c9932d4eaed7"})"
        "\n";
    std::string err =
        R"({"message_type":"error","error":{"message":"openfile for readdirnames failed: open /t/c: permission denied"},"during":"scan","item":"/t/c"})"
        "\n"
        R"({"message_type":"error","error":{"message":"open /t/b/secret: permission denied"},"during":"archival","item":"/t/b/secret"})"
        "\n"
        R"({"message_type":"error","error":{"message":"archival: open /t/c: permission denied"},"during":"archival","item":"/t/c"})"
        "\n"
        "a line that is not JSON\n"
        R"({"message_type":"exit_error","code":3,"message":"Warning: at least one source file could not be read"})"
        "\n";
    auto r = parse_backup_output(out, err);
    REQUIRE(r.snapshot_id);
    CHECK(*r.snapshot_id == "c04586646df4cdf1f6221af46b6c27dbb599c1011c4b006ced96c9932d4eaed7");
    REQUIRE(r.summary);
    CHECK((*r.summary)["files_new"] == 2);
    CHECK((*r.summary)["files_changed"] == 1);
    CHECK((*r.summary)["data_added"] == 2091);
    CHECK((*r.summary)["total_duration"] == 0.85);
    CHECK_FALSE(r.summary->contains("backup_start"));
    CHECK_FALSE(r.summary->contains("message_type"));
    REQUIRE(r.unreadable.size() == 2);
    CHECK(r.unreadable[0].path == "/t/b/secret");
    CHECK(r.unreadable[1].path == "/t/c");
    // The message of the save, not the scan, when restic reported both.
    CHECK(r.unreadable[1].message == "archival: open /t/c: permission denied");

    auto nothing = parse_backup_output("", k_exit_12);
    CHECK_FALSE(nothing.snapshot_id);
    CHECK_FALSE(nothing.summary);
    CHECK(nothing.unreadable.empty());
}

TEST_CASE("restic-wrapper: the command lines of each step", "[wrapper]") {
    WrapperConfig c;
    c.root = "/srv/tree";
    c.tags = {"daily", "db"};
    c.backup_flags = {"--one-file-system"};
    CHECK(restic_backup_args(c, "web1", "/tmp/x/excludes") ==
          std::vector<std::string>{"--json", "--quiet", "backup", "--host", "web1", "--tag",
                                   "daily", "--tag", "db", "--exclude-file", "/tmp/x/excludes",
                                   "--one-file-system", "--", "/srv/tree"});
    c.retention = Retention{{{"--keep-daily", "7"}, {"--keep-within", "1y"}}, true, {"--dry-run"}};
    CHECK(restic_forget_args(c, "web1") ==
          std::vector<std::string>{"--json", "--quiet", "forget", "--host", "web1", "--tag",
                                   "daily,db", "--keep-daily", "7", "--keep-within", "1y",
                                   "--prune", "--dry-run"});
    CHECK(restic_check_args(3, 30) ==
          std::vector<std::string>{"--json", "--quiet", "check", "--read-data-subset", "3/30"});
    CHECK(restic_unlock_args() == std::vector<std::string>{"--json", "--quiet", "unlock"});
}
