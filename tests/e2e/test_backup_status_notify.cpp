// backup-status --notify over a provisioned server under a real runsvdir with a real rest-server,
// run again and again as cron would: every transition reaches each target once, a webhook that
// is down is retried until it is up, a mail goes through a sendmail stand-in, a command gets the
// details in its environment.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <thread>

#include "support/backup_server.hpp"
#include "support/http_receiver.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* k_token = "tk_9f2c61d0a4e8b7";

// The sendmail stand-in: its arguments and the message on stdin, one pair of files a mail.
constexpr const char* k_sendmail = R"(#!/bin/sh
printf '%s\n' "$@" > "$OUT/$$.args"
cat > "$OUT/$$.tmp" && mv "$OUT/$$.tmp" "$OUT/$$.eml"
)";

// The command target: its arguments, environment and stdin, one set of files a call.
constexpr const char* k_command = R"(#!/bin/sh
printf '%s\n' "$@" > "$OUT/$$.args"
env | grep '^BACKUP_STATUS_' | grep -v '^BACKUP_STATUS_EVENTS=' > "$OUT/$$.env"
printf '%s' "$BACKUP_STATUS_EVENTS" > "$OUT/$$.events"
cat > "$OUT/$$.tmp" && mv "$OUT/$$.tmp" "$OUT/$$.stdin"
)";

void write_script(const fs::path& path, const std::string& body, const fs::path& out) {
    fs::create_directories(out);
    std::string text = body;
    text.replace(text.find('\n') + 1, 0, "OUT=" + out.string() + "\n");
    REQUIRE(util::atomic_write(path.string(), text, 0755));
}

// The files under dir whose names end in suffix, read, oldest first.
std::vector<std::string> outputs(const fs::path& dir, const std::string& suffix) {
    std::vector<std::pair<fs::file_time_type, fs::path>> found;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().string().ends_with(suffix)) {
            found.emplace_back(e.last_write_time(), e.path());
        }
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> texts;
    for (const auto& [time, path] : found) {
        auto text = util::read_file(path.string());
        REQUIRE(text);
        texts.push_back(*text);
    }
    return texts;
}

ProcessResult status(const BackupServer& server, std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {(fs::path(tools_dir()) / "backup-status").string(), "-c",
                                     server.config_file().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cmd(argv, base_environment());
}

struct NotifyRun {
    util::Json json; // what it printed with --json
    std::string err;
};

// One --notify run, as cron starts it.
NotifyRun notify(const BackupServer& server, int expected_exit) {
    auto r = status(server, {"--notify", "--json"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code() == expected_exit);
    CHECK(r.err.find(k_token) == std::string::npos);
    return {util::Json::parse(r.out), r.err};
}

// "from -> to" of each event of each JSON body the receiver got, in order.
std::vector<std::string> changes(const HttpReceiver& receiver) {
    std::vector<std::string> out;
    for (const auto& request : receiver.requests()) {
        auto body = util::Json::parse(request.body);
        REQUIRE(body["events"].size() == 1);
        const auto& e = body["events"][0];
        CHECK(e["row"] == "client");
        CHECK(e["name"] == "web1");
        out.push_back(e["from"].get<std::string>() + " -> " + e["to"].get<std::string>());
    }
    return out;
}

bool has_problem(const util::Json& status, const std::string& kind, const std::string& subject) {
    for (const auto& p : status["problems"]) {
        if (p["kind"] == kind && p["subject"] == subject) {
            return true;
        }
    }
    return false;
}

std::string server_yaml(const fs::path& dir, const HttpReceiver& hook, const HttpReceiver& later) {
    return fmt::format(
        "status:\n"
        "  notify_min_interval: 0\n"
        "  sendmail: {dir}/sendmail\n"
        "  notify:\n"
        "    - {{name: hook, webhook: '{hook}', token_file: {dir}/token, "
        "timeout: 10s}}\n"
        "    - {{name: later, webhook: '{later}', timeout: 10s}}\n"
        "    - {{name: mail, email: ops@example.com, from: backup@example.com}}\n"
        "    - {{name: pager, command: [{dir}/page, --team, backup], timeout: 20s}}\n",
        fmt::arg("dir", dir.string()), fmt::arg("hook", hook.url("/hook")),
        fmt::arg("later", later.url("/later")));
}

// backup-status until the client is ok with its services up: runit is still starting them.
void wait_until_healthy(const BackupServer& server) {
    auto deadline = Clock::now() + 60s;
    while (true) {
        auto r = status(server, {"--json"});
        if (r.exit_code() == 0) {
            return;
        }
        if (Clock::now() > deadline) {
            FAIL("backup-status never exited 0:\n" << r.out << r.err);
        }
        std::this_thread::sleep_for(200ms);
    }
}

void check_mail(const std::string& mail, const std::string& subject_part) {
    INFO(mail);
    auto head_end = mail.find("\n\n");
    REQUIRE(head_end != std::string::npos);
    std::string head = mail.substr(0, head_end + 1);
    CHECK(head.starts_with("Date: "));
    CHECK(head.find("\nFrom: backup@example.com\n") != std::string::npos);
    CHECK(head.find("\nTo: ops@example.com\n") != std::string::npos);
    CHECK(head.find("\nSubject: backup server ") != std::string::npos);
    CHECK(head.find(subject_part) != std::string::npos);
    CHECK(head.find("\nMessage-ID: <") != std::string::npos);
    CHECK(head.find("\nContent-Type: text/plain; charset=utf-8\n") != std::string::npos);
    CHECK(mail.substr(head_end).find("web1") != std::string::npos);
}

} // namespace

TEST_CASE("backup-status --notify: each transition once to every target, a target that is down "
          "is retried until it is up",
          "[backup-status][notify]") {
    auto dir = util::TempDir::create_in_tmp("e2e-notify");
    REQUIRE(dir);
    HttpReceiver hook;
    HttpReceiver later(std::nullopt, false); // bound, refusing connections until start()
    write_script(dir->path() / "sendmail", k_sendmail, dir->path() / "mail");
    write_script(dir->path() / "page", k_command, dir->path() / "page-out");
    REQUIRE(
        util::atomic_write((dir->path() / "token").string(), std::string(k_token) + "\n", 0600));
    {
        BackupServer server(dir->path(), server_yaml(dir->path(), hook, later));
        server.provision("web1", "rest-server");
        server.start();
        server.enable("web1");
        server.wait_for_storage("web1");
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        auto client = server.client("web1");
        client.run({"init"});
        client.run({"backup", source.string()});
        fs::path repository = server.client_config("web1").repository;
        wait_until_healthy(server);

        // All is well on the first run: nobody hears anything.
        notify(server, 0);
        CHECK(hook.count() == 0);
        fs::path state_file = server.root() / "status/notify.json";
        REQUIRE(fs::exists(state_file));

        // Stale: told once, however many runs see it; the target that is down fails each run
        // without keeping the others from theirs.
        age_snapshots(repository, 30 * 3600);
        auto run = notify(server, 1);
        CHECK(has_problem(run.json, "notify", "later"));
        CHECK(run.err.find("backup-status: error: unable to notify later: ") != std::string::npos);
        CHECK(changes(hook) == std::vector<std::string>{"ok -> stale"});
        auto request = hook.requests()[0];
        CHECK(request.method == "POST");
        CHECK(request.target == "/hook");
        CHECK(request.header("authorization") == fmt::format("Bearer {}", k_token));
        CHECK(request.header("content-type") == "application/json");
        auto body = util::Json::parse(request.body);
        CHECK(body["schema"] == 1);
        CHECK(body["healthy"] == false);
        CHECK(body["alerting"] == util::Json::array({"web1"}));
        CHECK(body["events"][0]["problems"][0]["kind"] == "stale");
        notify(server, 1);
        CHECK(hook.count() == 1);
        auto plain = status(server);
        INFO(plain.out << plain.err);
        CHECK(plain.exit_code() == 1);
        CHECK(plain.out.find("notify target later failing (2 attempt(s) failed") !=
              std::string::npos);
        auto state = util::read_file(state_file.string());
        REQUIRE(state);
        CHECK(state->find(k_token) == std::string::npos);

        // Up: what it missed arrives, once.
        later.start();
        run = notify(server, 1);
        CHECK_FALSE(has_problem(run.json, "notify", "later"));
        CHECK(run.err.empty());
        CHECK(changes(later) == std::vector<std::string>{"ok -> stale"});
        CHECK(hook.count() == 1);
        notify(server, 1);
        CHECK(later.count() == 1);

        // Back to ok, then stale again: stale, ok, stale, each once.
        age_snapshots(repository, 0);
        notify(server, 0);
        notify(server, 0);
        age_snapshots(repository, 30 * 3600);
        notify(server, 1);
        notify(server, 1);
        CHECK(changes(hook) ==
              std::vector<std::string>{"ok -> stale", "stale -> ok", "ok -> stale"});
        CHECK(changes(later) ==
              std::vector<std::string>{"ok -> stale", "stale -> ok", "ok -> stale"});

        auto mails = outputs(dir->path() / "mail", ".eml");
        REQUIRE(mails.size() == 3);
        check_mail(mails[0], "1 stale");
        check_mail(mails[1], "1 back to ok");
        check_mail(mails[2], "1 stale");
        CHECK(mails[0].substr(mails[0].find("Message-ID:"), 60) !=
              mails[2].substr(mails[2].find("Message-ID:"), 60));
        for (const auto& args : outputs(dir->path() / "mail", ".args")) {
            CHECK(args == "-t\n-oi\n");
        }

        auto calls = outputs(dir->path() / "page-out", ".stdin");
        REQUIRE(calls.size() == 3);
        auto input = util::Json::parse(calls[1]);
        CHECK(input["events"][0]["to"] == "ok");
        CHECK(input["healthy"] == true);
        CHECK(util::Json::parse(outputs(dir->path() / "page-out", ".events")[1]) == input);
        auto env = outputs(dir->path() / "page-out", ".env")[1];
        CHECK(env.find("BACKUP_STATUS_TARGET=pager\n") != std::string::npos);
        CHECK(env.find("BACKUP_STATUS_HEALTHY=1\n") != std::string::npos);
        CHECK(env.find("BACKUP_STATUS_SUMMARY=backup server ") != std::string::npos);
        CHECK(outputs(dir->path() / "page-out", ".args")[0] == "--team\nbackup\n");

        // A token file others may read is refused, and nothing goes out with it.
        ::chmod((dir->path() / "token").c_str(), 0644);
        age_snapshots(repository, 0);
        auto refused = status(server, {"--notify"});
        CHECK(refused.exit_code() == 1);
        CHECK(refused.err.find("unable to notify hook: ") != std::string::npos);
        CHECK(hook.count() == 3);
        CHECK(later.count() == 4);
    }
    require_no_processes(dir->path());
}
