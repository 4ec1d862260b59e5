#include "state/wrapper_check.hpp"
#include "state/wrapper_status.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "wrapper/environment.hpp"
#include "wrapper/report.hpp"

#include <catch2/catch.hpp>
#include <set>

using namespace backup;
using namespace backup::core;

TEST_CASE("restic-wrapper status: the repository is shown without credentials", "[wrapper]") {
    CHECK(redact_repository("s3:http://127.0.0.1:8101/web1") == "s3:http://127.0.0.1:8101/web1");
    CHECK(redact_repository("rest:https://web1:s3cret@backup:8000/web1/") ==
          "rest:https://backup:8000/web1/");
    CHECK(redact_repository("rest:http://u:p@h") == "rest:http://h");
    CHECK(redact_repository("/srv/restic-repo") == "/srv/restic-repo");
    CHECK(redact_repository("s3:http://h/bucket/a@b") == "s3:http://h/bucket/a@b");
}

TEST_CASE("restic-wrapper status: over t runs every data subset is checked once, in order",
          "[wrapper]") {
    std::optional<CheckRotation> saved;
    std::vector<int> read;
    for (int run = 0; run < 2 * 7; ++run) {
        CheckRotation now = current_check_rotation(saved, 7);
        read.push_back(now.next);
        saved = advance_check_rotation(now); // the check succeeded
    }
    CHECK(read == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7});

    // A check that failed does not move on: the next run reads the same subset.
    CheckRotation at4{7, 4};
    CHECK(current_check_rotation(at4, 7) == at4);
    // A new t starts a new cycle at 1, as does a saved position that does not fit.
    CHECK(current_check_rotation(CheckRotation{7, 4}, 30) == CheckRotation{30, 1});
    CHECK(current_check_rotation(CheckRotation{7, 9}, 7) == CheckRotation{7, 1});
    CHECK(current_check_rotation(std::nullopt, 1) == CheckRotation{1, 1});
    CHECK(advance_check_rotation(CheckRotation{1, 1}) == CheckRotation{1, 1});
}

TEST_CASE("restic-wrapper status: the check rotation file round-trips and is read strictly",
          "[wrapper]") {
    auto dir = util::TempDir::create_in_tmp("unit-wrapper-status");
    REQUIRE(dir);
    std::string path = (dir->path() / "check.json").string();
    auto absent = read_check_rotation(path);
    REQUIRE(absent);
    CHECK_FALSE(*absent);
    REQUIRE(write_check_rotation(path, CheckRotation{30, 12}));
    auto back = read_check_rotation(path);
    REQUIRE(back);
    REQUIRE(*back);
    CHECK(**back == CheckRotation{30, 12});
    for (const char* bad : {R"({"schema": 2, "read_data_subsets": 30, "next": 1})",
                            R"({"schema": 1, "read_data_subsets": 30, "next": 31})",
                            R"({"schema": 1, "read_data_subsets": 0, "next": 0})",
                            R"({"schema": 1, "next": 1})", "[1]", "not json"}) {
        INFO(bad);
        REQUIRE(util::atomic_write(path, bad, 0644));
        auto r = read_check_rotation(path);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == util::ExitCode::permanent);
    }
}

TEST_CASE("restic-wrapper status: the status file carries last_success over", "[wrapper]") {
    auto dir = util::TempDir::create_in_tmp("unit-wrapper-status");
    REQUIRE(dir);
    std::string path = (dir->path() / "status.json").string();
    auto none = read_last_success(path);
    REQUIRE(none);
    CHECK_FALSE(*none);

    AttemptRecord ok;
    ok.started = 1714532400;
    ok.finished = 1714532460;
    ok.duration_seconds = 60.5;
    ok.result = "ok";
    ok.exit_code = 0;
    ok.snapshot_id = "c04586646df4cdf1f6221af46b6c27dbb599c1011c4b006ced96c9932d4eaed7";
    ok.summary = util::Json{{"files_new", 2}, {"data_added", 2091}};
    ok.check_subset = "3/30";
    ok.steps.push_back({"backup", 0, "exited with status 0", 59.0});

    AttemptRecord failed;
    failed.started = 1714618800;
    failed.finished = 1714618801;
    failed.result = "failed";
    failed.exit_code = 100;
    failed.errors = {"unable to back up / to s3:http://h/web1: wrong password"};
    failed.unreadable = {{"/etc/shadow", "permission denied"}};
    failed.steps.push_back({"backup", std::nullopt, "killed by signal 9 (Killed)", 1.0});

    WrapperStatus status{"web1", "s3:http://h/web1", failed, attempt_to_json(ok)};
    util::Json json = wrapper_status_to_json(status);
    REQUIRE(util::write_json_file(path, json));

    auto written = util::read_json_file(path);
    REQUIRE(written);
    CHECK((*written)["schema"] == 1);
    CHECK((*written)["host"] == "web1");
    const auto& last = (*written)["last_attempt"];
    CHECK(last["started"] == "2024-05-02T03:00:00.000Z");
    CHECK(last["finished"] == "2024-05-02T03:00:01.000Z");
    CHECK(last["result"] == "failed");
    CHECK(last["exit_code"] == 100);
    CHECK(last["snapshot_id"].is_null());
    CHECK(last["summary"].is_null());
    CHECK(last["check_subset"].is_null());
    CHECK(last["errors"][0] == "unable to back up / to s3:http://h/web1: wrong password");
    CHECK(last["unreadable"][0]["path"] == "/etc/shadow");
    CHECK(last["steps"][0]["exit_code"].is_null());
    CHECK((*written)["last_success"]["snapshot_id"] == *ok.snapshot_id);
    CHECK((*written)["last_success"]["summary"]["files_new"] == 2);

    auto carried = read_last_success(path);
    REQUIRE(carried);
    REQUIRE(*carried);
    CHECK(**carried == attempt_to_json(ok));

    // A running attempt has no end and no exit code yet.
    AttemptRecord running;
    running.started = 1714618800;
    util::Json r = attempt_to_json(running);
    CHECK(r["result"] == "running");
    CHECK(r["finished"].is_null());
    CHECK(r["exit_code"].is_null());

    // Another schema, or a last_success that is not an attempt, is refused, not overwritten
    // silently.
    json["schema"] = 2;
    REQUIRE(util::write_json_file(path, json));
    CHECK_FALSE(read_last_success(path));
    json["schema"] = 1;
    json["last_success"] = "yesterday";
    REQUIRE(util::write_json_file(path, json));
    auto bad = read_last_success(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == util::ExitCode::permanent);
    CHECK(bad.error().message().find(path) != std::string::npos);
}

TEST_CASE("restic-wrapper status: the Prometheus textfile", "[wrapper]") {
    AttemptRecord a;
    a.started = 1714618800;
    a.finished = 1714618830;
    a.duration_seconds = 30;
    a.result = "findings";
    a.exit_code = 1;
    a.summary = util::Json{{"files_new", 2}, {"files_changed", 5}, {"data_added", 2091}};
    a.unreadable = {{"/a", "x"}, {"/b", "y"}};
    AttemptRecord ok = a;
    ok.finished = 1714532460;
    WrapperStatus status{"web\"1", "s3:x", a, attempt_to_json(ok)};
    std::string text = render_wrapper_prometheus(status);
    INFO(text);
    CHECK(text.find("# TYPE restic_wrapper_last_exit_code gauge\n"
                    "restic_wrapper_last_exit_code{host=\"web\\\"1\"} 1\n") != std::string::npos);
    CHECK(text.find("restic_wrapper_last_attempt_timestamp_seconds{host=\"web\\\"1\"} "
                    "1714618800\n") != std::string::npos);
    CHECK(text.find("restic_wrapper_running{host=\"web\\\"1\"} 0\n") != std::string::npos);
    CHECK(text.find("restic_wrapper_last_success_timestamp_seconds{host=\"web\\\"1\"} "
                    "1714532460\n") != std::string::npos);
    CHECK(text.find("restic_wrapper_last_files_changed{host=\"web\\\"1\"} 5\n") !=
          std::string::npos);
    CHECK(text.find("restic_wrapper_last_data_added_bytes{host=\"web\\\"1\"} 2091\n") !=
          std::string::npos);
    CHECK(text.find("restic_wrapper_last_unreadable_files{host=\"web\\\"1\"} 2\n") !=
          std::string::npos);

    // Before the first success, and while running.
    AttemptRecord running;
    running.started = 1714618800;
    std::string first = render_wrapper_prometheus(WrapperStatus{"web1", "s3:x", running, {}});
    CHECK(first.find("restic_wrapper_last_success_timestamp_seconds") == std::string::npos);
    CHECK(first.find("restic_wrapper_running{host=\"web1\"} 1\n") != std::string::npos);
    CHECK(first.find("restic_wrapper_last_exit_code{host=\"web1\"} -1\n") != std::string::npos);
    CHECK(first.find("restic_wrapper_last_files_new") == std::string::npos);
}
