#include "util/fs.hpp"
#include "wrapper/command.hpp"
#include "wrapper/environment.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <sys/stat.h>
#include <unistd.h>

using namespace backup;
using namespace backup::core;

namespace {

using Args = std::vector<std::string>;

using backup::test::all_messages;

struct ClientFiles {
    util::TempDir dir;
    std::string environ_path;
    std::string password;
};

// An environ file and a password file, both 0600, in a fresh temp dir; REAL_RESTIC is /bin/true
// so that no restic is needed.
ClientFiles make_client_files(const std::string& extra = {}) {
    auto dir = util::TempDir::create_in_tmp("unit-wrapper");
    REQUIRE(dir);
    std::string environ_path = (dir->path() / "environ").string();
    std::string password = (dir->path() / "repo-password").string();
    REQUIRE(util::atomic_write(password, "secret\n", 0600));
    REQUIRE(util::atomic_write(environ_path,
                               "# from the backup server\n"
                               "export RESTIC_REPOSITORY=s3:http://backup:8101/web1\n"
                               "export AWS_ACCESS_KEY_ID=AKEXAMPLE\n"
                               "export AWS_SECRET_ACCESS_KEY='se cr$t'\n"
                               "export RESTIC_PASSWORD_FILE=" +
                                   password + "\nREAL_RESTIC=/bin/true\n" + extra,
                               0600));
    return {std::move(*dir), environ_path, password};
}

} // namespace

TEST_CASE("restic-wrapper: the wrapper's options come first, the rest goes to restic unchanged",
          "[wrapper]") {
    auto split = [](Args args) { return split_wrapper_arguments(args); };
    auto r = split({"snapshots", "--host", "x y"});
    CHECK(r.wrapper.empty());
    CHECK(r.restic == Args{"snapshots", "--host", "x y"});

    r = split({"--wrapper-environ", "/e", "--wrapper-config=/c.yaml", "--daily"});
    CHECK(r.wrapper == Args{"--wrapper-environ", "/e", "--wrapper-config=/c.yaml", "--daily"});
    CHECK(r.restic.empty());

    // restic's own global options stop the wrapper's: they and everything after go to restic.
    r = split({"--wrapper-environ", "/e", "--json", "--daily", "snapshots"});
    CHECK(r.wrapper == Args{"--wrapper-environ", "/e"});
    CHECK(r.restic == Args{"--json", "--daily", "snapshots"});
    r = split({"-r", "/srv/repo", "backup", "--help"});
    CHECK(r.wrapper.empty());
    CHECK(r.restic == Args{"-r", "/srv/repo", "backup", "--help"});

    // One "--" ends the wrapper's options and is not passed on.
    r = split({"--wrapper-environ", "/e", "--", "--help"});
    CHECK(r.wrapper == Args{"--wrapper-environ", "/e"});
    CHECK(r.restic == Args{"--help"});
    r = split({"backup", "--", "--odd-name"});
    CHECK(r.restic == Args{"backup", "--", "--odd-name"});

    r = split({"--help"});
    CHECK(r.wrapper == Args{"--help"});
    CHECK(r.restic.empty());
    r = split({"help"});
    CHECK(r.restic == Args{"help"});
    r = split({});
    CHECK(r.wrapper.empty());
    CHECK(r.restic.empty());
    // A value option at the very end: its missing value is the CLI parser's error to report.
    r = split({"--wrapper-state-dir"});
    CHECK(r.wrapper == Args{"--wrapper-state-dir"});
}

TEST_CASE("restic-wrapper: the environ file is added to the environment", "[wrapper]") {
    auto files = make_client_files("PATH=/opt/restic/bin:/usr/bin:/bin\n");
    util::Environment base{{"HOME", "/root"}, {"AWS_ACCESS_KEY_ID", "old"}, {"LANG", "C"}};
    auto client = load_client_environment(files.environ_path, base);
    if (!client) {
        FAIL(all_messages(client.error()));
    }
    CHECK(client->env.at("HOME") == "/root");
    CHECK(client->env.at("LANG") == "C");
    CHECK(client->env.at("AWS_ACCESS_KEY_ID") == "AKEXAMPLE");
    CHECK(client->env.at("AWS_SECRET_ACCESS_KEY") == "se cr$t");
    CHECK(client->env.at("RESTIC_REPOSITORY") == "s3:http://backup:8101/web1");
    CHECK(client->env.at("RESTIC_PASSWORD_FILE") == files.password);
    CHECK(client->env.at("PATH") == "/opt/restic/bin:/usr/bin:/bin");
    CHECK(client->restic == "/bin/true");
}

TEST_CASE("restic-wrapper: restic is found in PATH unless REAL_RESTIC names it", "[wrapper]") {
    auto files = make_client_files("REAL_RESTIC=\n");
    auto bin = files.dir.path() / "bin";
    REQUIRE(util::make_directories(bin.string(), 0755));
    REQUIRE(util::atomic_write((bin / "restic").string(), "#!/bin/sh\n", 0755));
    auto client =
        load_client_environment(files.environ_path, {{"PATH", "/nonexistent:" + bin.string()}});
    REQUIRE(client);
    CHECK(client->restic == (bin / "restic").string());

    auto missing = load_client_environment(files.environ_path, {{"PATH", "/nonexistent"}});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == util::ExitCode::permanent);
    CHECK(missing.error().message().find("restic") != std::string::npos);
}

TEST_CASE("restic-wrapper: secret files must be private and owned by the user or root",
          "[wrapper]") {
    auto files = make_client_files();
    SECTION("environ file readable by group") {
        REQUIRE(::chmod(files.environ_path.c_str(), 0640) == 0);
        auto r = load_client_environment(files.environ_path, {});
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == util::ExitCode::permanent);
        CHECK(r.error().message().find("chmod 600 " + files.environ_path) != std::string::npos);
    }
    SECTION("password file readable by others") {
        REQUIRE(::chmod(files.password.c_str(), 0604) == 0);
        auto r = load_client_environment(files.environ_path, {});
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("chmod 600 " + files.password) != std::string::npos);
    }
    SECTION("password file owned by someone else") {
        if (::getuid() != 0) {
            SUCCEED("only root can give a file away");
            return;
        }
        REQUIRE(::chown(files.password.c_str(), 4242, 4242) == 0);
        auto r = load_client_environment(files.environ_path, {});
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find("owned by uid 4242") != std::string::npos);
        CHECK(r.error().message().find("chown") != std::string::npos);
    }
    SECTION("password file missing") {
        REQUIRE(::unlink(files.password.c_str()) == 0);
        auto r = load_client_environment(files.environ_path, {});
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == util::ExitCode::permanent);
        CHECK(r.error().message().find("openssl rand -base64 32 > " + files.password) !=
              std::string::npos);
    }
    SECTION("environ file missing") {
        std::string absent = (files.dir.path() / "absent").string();
        auto r = load_client_environment(absent, {});
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == util::ExitCode::permanent);
        CHECK(r.error().message().find(absent + ": no such file") != std::string::npos);
    }
}

TEST_CASE("restic-wrapper: an environ file a shell would execute is refused line by line",
          "[wrapper]") {
    auto files = make_client_files("X=$(touch /tmp/pwned)\n" // line 7
                                   "Y=`id`\n"                // line 8
                                   "not an assignment\n");   // line 9
    auto r = load_client_environment(files.environ_path, {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == util::ExitCode::permanent);
    std::string text = all_messages(r.error());
    INFO(text);
    for (int line : {7, 8, 9}) {
        CHECK(text.find(fmt::format("{}:{}:", files.environ_path, line)) != std::string::npos);
    }
}
