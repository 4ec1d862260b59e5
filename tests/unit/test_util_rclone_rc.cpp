// The real rclone rcd on a private UNIX socket: calls with JSON in and out, a served object
// streamed, errors coded, and no daemon left once its owner is done with it.
#include "util/rclone_rc.hpp"

#include <catch2/catch.hpp>
#include <csignal>
#include <fmt/format.h>
#include <sys/stat.h>

#include "support/fixtures.hpp"
#include "util/fs.hpp"

using namespace backup;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

util::RcloneDaemonOptions daemon_options(const util::TempDir& dir) {
    util::RcloneDaemonOptions options;
    options.program = test::require_program("rclone");
    options.env = test::base_environment();
    options.parent_dir = dir.str(); // its socket directory, and so its command line, in dir
    options.serve = true;
    return options;
}

} // namespace

TEST_CASE("rclone rc: calls in JSON on a private socket, a served file streamed, errors coded") {
    auto dir = util::TempDir::create_in_tmp("unit-rclone-rc");
    REQUIRE(dir);
    fs::path files = dir->path() / "files";
    fs::create_directories(files / "sub");
    REQUIRE(util::atomic_write((files / "sub" / "a").string(), std::string(100000, 'x'), 0600));
    {
        auto daemon = util::RcloneDaemon::start(daemon_options(*dir));
        REQUIRE(daemon);
        util::RcloneDaemon& d = **daemon;

        auto version = d.call_ok("core/version", util::Json::object(), "ask");
        REQUIRE(version);
        CHECK((*version)["version"].get<std::string>().starts_with("v1."));

        auto listed = d.call_ok("operations/list",
                                {{"fs", files.string() + "/"},
                                 {"remote", ""},
                                 {"opt", {{"recurse", true}, {"filesOnly", true}}}},
                                "list");
        REQUIRE(listed);
        REQUIRE((*listed)["list"].size() == 1);
        CHECK((*listed)["list"][0]["Path"] == "sub/a");
        CHECK((*listed)["list"][0]["Size"] == 100000);

        std::string got;
        auto status = d.stream(files.string() + "/", "sub/a", [&](std::string_view chunk) {
            got.append(chunk);
            return true;
        });
        REQUIRE(status);
        CHECK(*status == 200);
        CHECK(got == std::string(100000, 'x'));
        got.clear();
        status = d.stream(files.string() + "/", "sub/missing", [&](std::string_view chunk) {
            got.append(chunk);
            return true;
        });
        REQUIRE(status);
        CHECK(*status != 200);
        CHECK(got.empty()); // an error's body never reaches the sink

        // rclone's own errors are replies, coded: a missing file is 404, bad parameters 400.
        auto missing = d.call("operations/stat", {{"fs", files.string() + "/"},
                                                  {"remote", "nothing/here"},
                                                  {"opt", {{"filesOnly", true}}}});
        REQUIRE(missing);
        CHECK(missing->ok());
        CHECK(missing->body["item"].is_null());
        auto bad = d.call_ok("operations/list", {{"remote", ""}}, "list without fs");
        REQUIRE_FALSE(bad);
        CHECK(bad.error().code() == util::ExitCode::permanent);
        INFO(bad.error().message());
        CHECK(bad.error().message().starts_with("unable to list without fs: "));
        auto unknown = d.call("no/such/method", util::Json::object());
        REQUIRE(unknown);
        CHECK(unknown->status == 404);
        CHECK(util::rclone_error_class(*unknown) == util::ExitCode::temporary);

        // The socket's directory is private: --rc-no-auth lets in this user only.
        auto pids = test::processes_using(dir->path());
        REQUIRE(pids.size() == 1);
        bool private_dir = false;
        for (const auto& entry : fs::directory_iterator(dir->path())) {
            if (entry.path().filename().string().starts_with("rclone-rcd-")) {
                struct stat st {};
                REQUIRE(::stat(entry.path().c_str(), &st) == 0);
                private_dir = (st.st_mode & 0777) == 0700;
            }
        }
        CHECK(private_dir);

        // Killed under its owner: a call is a temporary failure, not a hang.
        ::kill(pids[0], SIGKILL);
        REQUIRE(test::wait_for_pid_exit(pids[0], 10s));
        auto gone = d.call_ok("core/version", util::Json::object(), "ask again");
        REQUIRE_FALSE(gone);
        CHECK(gone.error().code() == util::ExitCode::temporary);
    }
    test::require_no_processes(dir->path());
}

TEST_CASE("rclone rc: the daemon is stopped with its owner, and one that cannot start says why") {
    auto dir = util::TempDir::create_in_tmp("unit-rclone-rc-stop");
    REQUIRE(dir);
    {
        auto daemon = util::RcloneDaemon::start(daemon_options(*dir));
        REQUIRE(daemon);
        CHECK(test::processes_using(dir->path()).size() == 1);
    }
    // Destroyed: stopped and reaped at once, nothing to wait for.
    CHECK(test::processes_using(dir->path()).empty());

    auto options = daemon_options(*dir);
    options.flags = {"--no-such-flag"};
    auto refused = util::RcloneDaemon::start(options);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == util::ExitCode::temporary);
    CHECK(refused.error().message().find("no-such-flag") != std::string::npos);
    test::require_no_processes(dir->path());
}
