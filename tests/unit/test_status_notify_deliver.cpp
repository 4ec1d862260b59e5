// --notify's deliveries against real receivers: a webhook POST to a receiver on loopback, a
// command and a sendmail stand-in run for real, each failure named and each wait bounded.
#include "status/notify_deliver.hpp"

#include <catch2/catch.hpp>

#include "status/notify_message.hpp"
#include "support/http_receiver.hpp"
#include "util/fs.hpp"

using namespace backup;
using namespace backup::core;
using namespace std::chrono_literals;
using backup::test::HttpReceiver;

namespace {

NotifyMessage stale_message(bool healthy = false) {
    NotifyMessage m;
    m.server = "backup1";
    m.root = "/backups";
    m.time = 1'800'000'000;
    m.healthy = healthy;
    m.alerting = {"web1"};
    m.events = {{"client", "web1", "ok", "stale", m.time, {{"stale", "snapshots", "old"}}}};
    return m;
}

NotifyTarget hook(const std::string& url, const std::string& format = "json") {
    NotifyTarget t;
    t.kind = NotifyTarget::Kind::webhook;
    t.name = "hook";
    t.url = url;
    t.format = format;
    t.timeout = 10s;
    return t;
}

NotifyTarget program(const std::string& path) {
    NotifyTarget t;
    t.kind = NotifyTarget::Kind::command;
    t.name = "pager";
    t.argv = {path, "--team", "backup"};
    t.timeout = 10s;
    return t;
}

void script(const std::string& path, const std::string& text) {
    REQUIRE(util::atomic_write(path, "#!/bin/sh\n" + text, 0755));
}

} // namespace

TEST_CASE("notify delivery: a webhook gets its body and token, an error answer is a failure") {
    auto dir = util::TempDir::create_in_tmp("unit-notify-deliver");
    REQUIRE(dir);
    std::string token = dir->str() + "/token";
    REQUIRE(util::atomic_write(token, "tk_secret42\n", 0600));
    HttpReceiver receiver;
    StatusSettings settings;

    auto target = hook(receiver.url("/hook"));
    target.token_file = token;
    REQUIRE(deliver_notification(target, stale_message(), settings));
    REQUIRE(receiver.count() == 1);
    auto got = receiver.requests()[0];
    CHECK(got.header("authorization") == "Bearer tk_secret42");
    CHECK(util::Json::parse(got.body) == notify_json(stale_message()));

    // The token in the URL's path; a healthchecks ping of trouble goes to /fail.
    auto check = hook(receiver.url("/ping/{token}?create=1"), "healthchecks");
    check.token_file = token;
    REQUIRE(deliver_notification(check, stale_message(), settings));
    CHECK(receiver.requests()[1].target == "/ping/tk_secret42/fail?create=1");
    CHECK(receiver.requests()[1].header("authorization").empty());

    receiver.answer(500);
    auto refused = deliver_notification(target, stale_message(), settings);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == util::ExitCode::temporary);
    CHECK(refused.error().message() ==
          "unable to notify hook: the server answered HTTP 500: the receiver was told to fail");

    // A token others may read is refused before anything goes out.
    receiver.answer(200);
    REQUIRE(util::atomic_write(token, "tk_secret42\n", 0644));
    auto open = deliver_notification(target, stale_message(), settings);
    REQUIRE_FALSE(open);
    CHECK(open.error().message().starts_with("unable to notify hook: "));
    CHECK(open.error().message().find("tk_secret42") == std::string::npos);
    CHECK(receiver.count() == 3);
}

TEST_CASE("notify delivery: a command gets the details in its environment and on stdin, its "
          "failure says why") {
    auto dir = util::TempDir::create_in_tmp("unit-notify-deliver");
    REQUIRE(dir);
    std::string out = dir->str() + "/out";
    std::string page = dir->str() + "/page";
    script(page, fmt::format("printf '%s\\n' \"$@\" \"$BACKUP_STATUS_TARGET\" "
                             "\"$BACKUP_STATUS_SUMMARY\" > {out}.args\ncat > {out}.stdin\n",
                             fmt::arg("out", out)));
    StatusSettings settings;
    REQUIRE(deliver_notification(program(page), stale_message(), settings));
    CHECK(util::read_file(out + ".args").value_or("") ==
          "--team\nbackup\npager\nbackup server backup1: 1 stale\n");
    CHECK(util::Json::parse(util::read_file(out + ".stdin").value_or("null")) ==
          notify_json(stale_message()));

    script(page, "echo starting >&2\necho 'no route to pager' >&2\nexit 3\n");
    auto failed = deliver_notification(program(page), stale_message(), settings);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code() == util::ExitCode::temporary);
    CHECK(failed.error().message() ==
          fmt::format("unable to notify pager: {} exited with status 3: no route to pager", page));

    CHECK_FALSE(deliver_notification(program(dir->str() + "/missing"), stale_message(), settings));
}

TEST_CASE("notify delivery: a command or a sendmail that hangs is stopped at the timeout") {
    auto dir = util::TempDir::create_in_tmp("unit-notify-deliver");
    REQUIRE(dir);
    std::string page = dir->str() + "/page";
    script(page, "exec sleep 300\n");
    auto target = program(page);
    target.timeout = 1s;
    StatusSettings settings;
    auto start = std::chrono::steady_clock::now();
    auto hung = deliver_notification(target, stale_message(), settings);
    REQUIRE_FALSE(hung);
    CHECK(hung.error().message().find("timed out") != std::string::npos);

    NotifyTarget mail;
    mail.kind = NotifyTarget::Kind::email;
    mail.name = "mail";
    mail.to = {"ops@example.com"};
    mail.timeout = 1s;
    settings.sendmail = page;
    auto stuck = deliver_notification(mail, stale_message(), settings);
    REQUIRE_FALSE(stuck);
    CHECK(stuck.error().message().starts_with("unable to notify mail: " + page + " "));
    CHECK(std::chrono::steady_clock::now() - start < 30s);
}

TEST_CASE("notify delivery: a mail goes to sendmail -t -oi as one RFC 5322 message") {
    auto dir = util::TempDir::create_in_tmp("unit-notify-deliver");
    REQUIRE(dir);
    std::string out = dir->str() + "/mail";
    StatusSettings settings;
    settings.sendmail = dir->str() + "/sendmail";
    script(settings.sendmail, fmt::format("printf '%s\\n' \"$@\" > {out}.args\ncat > {out}.eml\n",
                                          fmt::arg("out", out)));
    NotifyTarget mail;
    mail.kind = NotifyTarget::Kind::email;
    mail.name = "mail";
    mail.to = {"ops@example.com"};
    REQUIRE(deliver_notification(mail, stale_message(), settings));
    CHECK(util::read_file(out + ".args").value_or("") == "-t\n-oi\n");
    auto text = util::read_file(out + ".eml").value_or("");
    CHECK(text.starts_with("Date: Fri, 15 Jan 2027 08:00:00 +0000\n"
                           "From: restic-backup@backup1\n"
                           "To: ops@example.com\n"
                           "Subject: backup server backup1: 1 stale\n"
                           "Message-ID: <20270115T080000Z."));
    CHECK(text.find("@backup1>\n") != std::string::npos);
    CHECK(text.find("\n\nweb1: ok -> stale") != std::string::npos);

    script(settings.sendmail, "echo 'sendmail: cannot connect to relay' >&2\nexit 75\n");
    auto failed = deliver_notification(mail, stale_message(), settings);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message().ends_with("exited with status 75: sendmail: cannot connect to "
                                             "relay"));
}
