// restic-wrapper ARGS...: restic runs with the environ file's variables and exactly the
// arguments given; environ files that are not private, or that a shell would run, are refused
// before anything runs.
#include "support/fixtures.hpp"
#include "util/json.hpp"

#include <catch2/catch.hpp>
#include <sys/stat.h>

using namespace backup;
using namespace backup::test;

namespace {

ProcessResult wrapper(const fs::path& environ_file, std::vector<std::string> args,
                      const Environment& env = base_environment()) {
    args.insert(args.begin(), {wrapper_binary(), "--wrapper-environ", environ_file.string()});
    return run_cmd(std::move(args), env);
}

std::string environ_text(const std::string& repository, const VersitygwServer& server,
                         const std::string& password_file, const fs::path& cache) {
    return fmt::format("# restic environment for web1, made by new-restic-server.\n"
                       "export RESTIC_REPOSITORY={}\n"
                       "export AWS_ACCESS_KEY_ID={}\n"
                       "export AWS_SECRET_ACCESS_KEY={}\n"
                       "export RESTIC_PASSWORD_FILE={}\n"
                       "RESTIC_CACHE_DIR=\"{}\"\n",
                       repository, server.access_key(), server.secret_key(), password_file,
                       cache.string());
}

} // namespace

TEST_CASE("restic-wrapper passes its arguments to restic unchanged, with restic's exit code",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper-pass");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        std::string repository = "s3:" + server.endpoint() + "/web1";
        auto oracle = make_restic_client(dir->path() / "client", repository);
        oracle.env["AWS_ACCESS_KEY_ID"] = server.access_key();
        oracle.env["AWS_SECRET_ACCESS_KEY"] = server.secret_key();
        std::string password = oracle.env.at("RESTIC_PASSWORD_FILE");
        fs::path environ_file = dir->path() / "etc/environ";
        write_file(environ_file, environ_text(repository, server, password, dir->path() / "cache"),
                   0600);
        fs::path source = dir->path() / "source dir";
        make_sample_tree(source);

        auto init = wrapper(environ_file, {"init"});
        INFO(init.err);
        REQUIRE(init.exit_code() == 0);
        CHECK(init.out.find("created restic repository") != std::string::npos);

        // Arguments with spaces stay whole.
        auto backup =
            wrapper(environ_file, {"backup", "--tag", "a b", "--host", "x y", source.string()});
        INFO(backup.err);
        REQUIRE(backup.exit_code() == 0);
        auto snapshots = util::Json::parse(oracle.run({"snapshots", "--json"}).out);
        REQUIRE(snapshots.size() == 1);
        CHECK(snapshots[0]["tags"] == util::Json::array({"a b"}));
        CHECK(snapshots[0]["hostname"] == "x y");
        CHECK(snapshots[0]["paths"] == util::Json::array({source.string()}));

        auto listed = wrapper(environ_file, {"snapshots", "--json", "--host", "x y"});
        REQUIRE(listed.exit_code() == 0);
        CHECK(util::Json::parse(listed.out).size() == 1);
        auto other = wrapper(environ_file, {"snapshots", "--json", "--host", "x"});
        REQUIRE(other.exit_code() == 0);
        CHECK(util::Json::parse(other.out).empty());

        // restic's standard output is the wrapper's, byte for byte.
        auto dumped = wrapper(environ_file, {"dump", "latest", (source / "a/big.bin").string()});
        REQUIRE(dumped.exit_code() == 0);
        CHECK(dumped.out == util::read_file((source / "a/big.bin").string()).value_or("?"));

        // "--" ends the wrapper's options; what follows is restic's.
        auto version = wrapper(environ_file, {"--", "version"});
        CHECK(version.exit_code() == 0);
        CHECK(version.out.starts_with("restic "));

        // restic's own exit codes come through: 12 wrong password, 10 no repository.
        write_file(dir->path() / "wrong-password", "wrong\n", 0600);
        fs::path wrong = dir->path() / "etc/environ-wrong";
        write_file(wrong,
                   environ_text(repository, server, (dir->path() / "wrong-password").string(),
                                dir->path() / "cache"),
                   0600);
        CHECK(wrapper(wrong, {"snapshots"}).exit_code() == 12);
        fs::path absent = dir->path() / "etc/environ-absent";
        write_file(absent,
                   environ_text(repository + "/absent", server, password, dir->path() / "cache"),
                   0600);
        CHECK(wrapper(absent, {"snapshots"}).exit_code() == 10);

        // REAL_RESTIC names the program; PATH need not hold restic then.
        fs::path real = dir->path() / "etc/environ-real";
        write_file(real,
                   environ_text(repository, server, password, dir->path() / "cache") +
                       "REAL_RESTIC=" + require_program("restic") + "\n",
                   0600);
        Environment bare = base_environment();
        bare["PATH"] = "/usr/bin:/bin";
        auto via_real = wrapper(real, {"snapshots", "--json"}, bare);
        INFO(via_real.err);
        CHECK(via_real.exit_code() == 0);
        CHECK(util::Json::parse(via_real.out).size() == 1);
        auto not_found = wrapper(environ_file, {"snapshots"}, bare);
        CHECK(not_found.exit_code() == 100);
        CHECK(not_found.err.find("restic") != std::string::npos);
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-wrapper refuses environ files that are not private or that a shell would run",
          "[e2e][wrapper]") {
    auto dir = util::TempDir::create_in_tmp("e2e-wrapper-environ");
    REQUIRE(dir);
    fs::path password = dir->path() / "repo-password";
    write_file(password, "secret\n", 0600);
    fs::path environ_file = dir->path() / "environ";
    // Nothing listens here: had restic run, it would not have exited 100.
    std::string good = fmt::format("export RESTIC_REPOSITORY=s3:http://127.0.0.1:{}/web1\n"
                                   "export RESTIC_PASSWORD_FILE={}\n",
                                   free_port(), password.string());
    fs::path pwned = dir->path() / "pwned";

    SECTION("readable by group") {
        write_file(environ_file, good, 0640);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err == fmt::format("restic-wrapper: error: unable to use {}: it holds secrets but "
                                   "is accessible by group or others (mode 0640); run 'chmod 600 "
                                   "{}'\n",
                                   environ_file.string(), environ_file.string()));
    }
    SECTION("password file readable by others") {
        write_file(environ_file, good, 0600);
        REQUIRE(::chmod(password.c_str(), 0644) == 0);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find("run 'chmod 600 " + password.string() + "'") != std::string::npos);
    }
    SECTION("password file readable by others names the line that set it") {
        write_file(environ_file, good, 0600);
        REQUIRE(::chmod(password.c_str(), 0644) == 0);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.err.find(fmt::format("(RESTIC_PASSWORD_FILE set at {}:2)",
                                     environ_file.string())) != std::string::npos);
    }
    SECTION("a missing CA file names the line that set it") {
        write_file(environ_file, good + "export RESTIC_CACERT=/nonexistent/ca.pem\n", 0600);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find(fmt::format("(RESTIC_CACERT set at {}:3)", environ_file.string())) !=
              std::string::npos);
    }
    SECTION("brace expansion and Windows line ends") {
        write_file(environ_file, good + "export X={a,b}\r\nexport Y={a,b}\n", 0600);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find(fmt::format("{}:3: the line ends in a carriage return",
                                     environ_file.string())) != std::string::npos);
        CHECK(r.err.find(fmt::format("{}:4: '{{' would be expanded by bash",
                                     environ_file.string())) != std::string::npos);
    }
    SECTION("command substitution and backquotes") {
        write_file(environ_file,
                   good + fmt::format("export X=$(touch {})\nY=`touch {}`\n", pwned.string(),
                                      pwned.string()),
                   0600);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find(fmt::format("restic-wrapper: error: unable to load {}:3: ",
                                     environ_file.string())) != std::string::npos);
        CHECK(r.err.find(fmt::format("restic-wrapper: error: unable to load {}:4: ",
                                     environ_file.string())) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);
        CHECK_FALSE(fs::exists(pwned));
    }
    SECTION("syntax error") {
        write_file(environ_file,
                   "# client\n" + good + "export RESTIC_REST_PASSWORD='unterminated\n", 0600);
        auto r = wrapper(environ_file, {"snapshots"});
        CHECK(r.exit_code() == 100);
        CHECK(r.err == fmt::format("restic-wrapper: error: unable to load {}:4: unterminated "
                                   "single quote\n",
                                   environ_file.string()));
    }
    SECTION("the daily job records the refusal") {
        write_file(environ_file, good + "export X=$(touch " + pwned.string() + ")\n", 0600);
        fs::path config = dir->path() / "restic-wrapper.yaml";
        fs::path state = dir->path() / "state";
        write_file(config, fmt::format("state_dir: {}\n", state.string()));
        auto r = run_cmd({wrapper_binary(), "--wrapper-environ", environ_file.string(),
                          "--wrapper-config", config.string(), "--daily"},
                         base_environment());
        CHECK(r.exit_code() == 100);
        CHECK(r.err.find(fmt::format("unable to load {}:3: ", environ_file.string())) !=
              std::string::npos);
        auto status = util::read_json_file((state / "status.json").string());
        REQUIRE(status);
        CHECK((*status)["last_attempt"]["exit_code"] == 100);
        CHECK((*status)["last_attempt"]["errors"][0].get<std::string>().find(":3: ") !=
              std::string::npos);
        CHECK_FALSE(fs::exists(pwned));
    }
    SECTION("the wrapper's own usage errors") {
        write_file(environ_file, good, 0600);
        auto extra = run_cmd(
            {wrapper_binary(), "--wrapper-environ", environ_file.string(), "--daily", "snapshots"},
            base_environment());
        CHECK(extra.exit_code() == 100);
        CHECK(extra.err.find("--daily takes no restic arguments") != std::string::npos);
        auto unknown = run_cmd({wrapper_binary(), "--wrapper-environs", environ_file.string()},
                               base_environment());
        CHECK(unknown.exit_code() == 100);
        auto help = run_cmd({wrapper_binary(), "--help"}, base_environment());
        CHECK(help.exit_code() == 0);
        CHECK(help.out.find("Exit status of --daily") != std::string::npos);
    }
    require_no_processes(dir->path());
}
