// --notify's logic on statuses made in memory: which rows alert, what counts as a transition, how
// waiting events merge, the rate limit, the plan for each target, and what each format says.
#include "status/notify.hpp"
#include "status/notify_deliver.hpp"
#include "status/notify_message.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include "util/fs.hpp"

using namespace backup;
using namespace backup::core;

namespace {

using test::k_now;

ClientInfo notified_client(const std::string& host, ClientState state,
                           std::vector<Problem> problems = {}) {
    ClientInfo c;
    c.host = host;
    c.state = state;
    c.problems = std::move(problems);
    return c;
}

Problem stale_problem() {
    return {ProblemKind::stale, "snapshots", "stale: newest snapshot 30h old (expected every 26h)"};
}

Problem down_problem(const std::string& service = "backup-syncd") {
    return {ProblemKind::service_down, service, "service " + service + " is down"};
}

ServerStatus server(std::vector<ClientInfo> clients, std::int64_t now = k_now) {
    ServerStatus s;
    s.now = now;
    s.root = "/backups";
    s.clients = std::move(clients);
    return s;
}

NotifyTarget webhook(const std::string& name, const std::string& format = "json") {
    NotifyTarget t;
    t.kind = NotifyTarget::Kind::webhook;
    t.name = name;
    t.url = "https://hooks.example.com/x";
    t.format = format;
    return t;
}

StatusSettings settings_with(std::vector<NotifyTarget> targets,
                             std::chrono::seconds interval = std::chrono::seconds(0)) {
    StatusSettings s;
    s.notify_min_interval = interval;
    s.notify = std::move(targets);
    return s;
}

std::vector<std::string> changes(const std::vector<NotifyEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        out.push_back(fmt::format("{} {}: {} -> {}", e.row, e.name, e.from, e.to));
    }
    return out;
}

// One run of --notify without the deliveries' side: plan, then every delivery succeeds (or
// fails, for the names in failing). Returns what each target was sent, "target: change".
std::vector<std::string> run_once(std::optional<NotifyState>& state, const ServerStatus& status,
                                  const StatusSettings& settings,
                                  const std::vector<std::string>& failing = {}) {
    auto plan = plan_notifications(state, status, settings, "backup1");
    std::vector<std::string> sent;
    for (const auto& [index, message] : plan.deliveries) {
        const auto& name = settings.notify[index].name;
        bool fails = std::find(failing.begin(), failing.end(), name) != failing.end();
        record_delivery(plan.state, name, status.now,
                        fails ? util::Expected<void>(std::unexpected(util::Error(
                                    util::ExitCode::temporary, "unable to notify: refused")))
                              : util::Expected<void>());
        if (!fails) {
            for (const auto& change : changes(message.events)) {
                sent.push_back(name + ": " + change);
            }
        }
    }
    state = plan.state;
    return sent;
}

NotifyMessage message_with(std::vector<NotifyEvent> events, bool healthy = false) {
    NotifyMessage m;
    m.server = "backup1";
    m.root = "/backups";
    m.time = k_now;
    m.healthy = healthy;
    m.events = std::move(events);
    for (const auto& e : m.events) {
        if (e.to != "ok") {
            m.alerting.push_back(notify_label(e.row, e.name));
        }
    }
    return m;
}

NotifyEvent event(const std::string& name, const std::string& from, const std::string& to,
                  std::vector<NotifyProblem> problems = {}) {
    return {"client", name, from, to, k_now, std::move(problems)};
}

} // namespace

TEST_CASE("notify: the rows and their alerting states") {
    auto s = server({notified_client("ok1", ClientState::ok),
                     notified_client("new1", ClientState::fresh),
                     notified_client("off1", ClientState::disabled),
                     notified_client("stale1", ClientState::stale, {stale_problem()}),
                     notified_client("bad1", ClientState::failing, {down_problem()}),
                     notified_client("broken1", ClientState::error,
                                     {{ProblemKind::config, "client.yaml", "unreadable"}})});
    InstanceInfo shared;
    shared.kind = "versitygw";
    shared.problems = {{ProblemKind::instance_down, "versitygw", "down"}};
    s.instances = {shared};
    FilesystemInfo fs;
    fs.path = "/srv";
    s.filesystems = {fs};
    auto rows = notify_rows(s);
    REQUIRE(rows.size() == 9);
    std::vector<std::string> states;
    for (const auto& r : rows) {
        states.push_back(r.row + " " + r.name + " " + r.state);
    }
    CHECK(states == std::vector<std::string>{"client ok1 ok", "client new1 ok", "client off1 ok",
                                             "client stale1 stale", "client bad1 failing",
                                             "client broken1 error", "instance versitygw failing",
                                             "filesystem /srv ok", "server /backups ok"});
    // The notifier's own failures are no row's: a failing target is not announced.
    s.problems = {{ProblemKind::notify, "hook", "notify target hook failing"}};
    CHECK(notify_rows(s).back().state == "ok");
    s.problems.push_back({ProblemKind::state_file, "capacity", "unreadable"});
    CHECK(notify_rows(s).back().state == "failing");
    CHECK(notify_rows(s).back().problems.size() == 1);
    CHECK(notify_label("instance", "versitygw") == "shared versitygw");
    CHECK(notify_label("filesystem", "/srv") == "filesystem /srv");
    CHECK(notify_label("client", "web1") == "web1");
}

TEST_CASE("notify: each change of a row's alerting state is one event, ok rows seen first are "
          "not") {
    auto first = notify_rows(server({notified_client("a", ClientState::ok),
                                     notified_client("b", ClientState::stale, {stale_problem()})}));
    CHECK(changes(alerting_events(first, k_now)) ==
          std::vector<std::string>{"client b: unknown -> stale"});

    std::vector<NotifyRowState> previous = {{"client", "a", "ok", {}},
                                            {"client", "b", "stale", {"stale"}},
                                            {"client", "c", "failing", {"service-down"}},
                                            {"client", "gone", "failing", {"service-down"}}};
    auto now = notify_rows(
        server({notified_client("a", ClientState::failing, {down_problem()}),
                notified_client("b", ClientState::ok),
                notified_client(
                    "c", ClientState::failing,
                    {down_problem(), {ProblemKind::audit_findings, "repository", "audit found 1"}}),
                notified_client("d", ClientState::disabled)}));
    auto events = row_transitions(previous, now, k_now);
    // "gone" is forgotten; "d" is new and ok; the server row is new and ok.
    CHECK(changes(events) == std::vector<std::string>{"client a: ok -> failing",
                                                      "client b: stale -> ok",
                                                      "client c: failing -> failing"});
    CHECK(events[0].problems.at(0).kind == "service-down");
    CHECK(events[1].problems.empty());
    CHECK(events[2].problems.size() == 2);

    // The same again: nothing. A failing row that lost a kind: nothing either.
    std::vector<NotifyRowState> same = {
        {"client", "a", "failing", {"service-down"}},
        {"client", "b", "ok", {}},
        {"client", "c", "failing", {"service-down", "audit-findings", "sync-failing"}},
        {"client", "d", "ok", {}},
        {"server", "/backups", "ok", {}}};
    CHECK(row_transitions(same, now, k_now).empty());
}

TEST_CASE("notify: events that wait merge into one per row, a row back where it was drops out") {
    std::vector<NotifyEvent> pending = {event("a", "ok", "stale"), event("b", "failing", "ok")};
    auto merged = merge_events(pending, {event("a", "stale", "failing"), event("c", "ok", "stale"),
                                         event("b", "ok", "failing")});
    CHECK(changes(merged) == std::vector<std::string>{"client a: ok -> failing",
                                                      "client b: failing -> failing",
                                                      "client c: ok -> stale"});
    auto back = merge_events(merged, {event("a", "failing", "ok"), event("c", "stale", "ok")});
    CHECK(changes(back) == std::vector<std::string>{"client b: failing -> failing"});
    auto first_seen = merge_events({event("x", "unknown", "stale")}, {event("x", "stale", "ok")});
    CHECK(first_seen.empty());
}

TEST_CASE("notify: the rate limit") {
    NotifyTargetState never;
    CHECK(notify_due(never, k_now, std::chrono::seconds(600)));
    NotifyTargetState sent;
    sent.last_sent = k_now - 599;
    CHECK_FALSE(notify_due(sent, k_now, std::chrono::seconds(600)));
    CHECK(notify_due(sent, k_now + 1, std::chrono::seconds(600)));
    CHECK(notify_due(sent, k_now, std::chrono::seconds(0)));
    // A clock set back does not silence the target until it catches up.
    CHECK(notify_due(sent, k_now - 3600, std::chrono::seconds(600)));
}

TEST_CASE("notify: stale -> ok -> stale is told twice stale and once ok, each once, across "
          "repeated runs") {
    auto settings = settings_with({webhook("hook")});
    std::optional<NotifyState> state;
    std::vector<std::string> sent;
    auto run = [&](ClientState s, std::int64_t at) {
        std::vector<Problem> problems;
        if (s == ClientState::stale) {
            problems = {stale_problem()};
        }
        auto got = run_once(state, server({notified_client("web1", s, problems)}, at), settings);
        sent.insert(sent.end(), got.begin(), got.end());
    };
    run(ClientState::ok, k_now);
    run(ClientState::stale, k_now + 60);
    run(ClientState::stale, k_now + 120);
    run(ClientState::ok, k_now + 180);
    run(ClientState::ok, k_now + 240);
    run(ClientState::stale, k_now + 300);
    run(ClientState::stale, k_now + 360);
    CHECK(sent == std::vector<std::string>{"hook: client web1: ok -> stale",
                                           "hook: client web1: stale -> ok",
                                           "hook: client web1: ok -> stale"});
}

TEST_CASE("notify: the plan: the first run tells what alerts, a target added later learns what "
          "alerts now, a rate-limited target waits and then gets everything at once") {
    auto settings = settings_with({webhook("fast"), webhook("slow")});
    settings.notify[1].min_interval = std::chrono::seconds(600);
    std::optional<NotifyState> state;
    auto sent = run_once(state,
                         server({notified_client("a", ClientState::failing, {down_problem()}),
                                 notified_client("b", ClientState::ok)}),
                         settings);
    CHECK(sent == std::vector<std::string>{"fast: client a: unknown -> failing",
                                           "slow: client a: unknown -> failing"});
    // b goes stale at +60 and a recovers at +120: fast hears each at once, slow waits.
    sent = run_once(state,
                    server({notified_client("a", ClientState::failing, {down_problem()}),
                            notified_client("b", ClientState::stale, {stale_problem()})},
                           k_now + 60),
                    settings);
    CHECK(sent == std::vector<std::string>{"fast: client b: ok -> stale"});
    sent = run_once(state,
                    server({notified_client("a", ClientState::ok),
                            notified_client("b", ClientState::stale, {stale_problem()})},
                           k_now + 120),
                    settings);
    CHECK(sent == std::vector<std::string>{"fast: client a: failing -> ok"});
    REQUIRE(state->targets.size() == 2);
    CHECK(state->targets[1].pending.size() == 2);
    // A third target appears in the config: it hears what alerts now, and nothing of a.
    settings.notify.push_back(webhook("added"));
    sent = run_once(state,
                    server({notified_client("a", ClientState::ok),
                            notified_client("b", ClientState::stale, {stale_problem()})},
                           k_now + 600),
                    settings);
    CHECK(sent == std::vector<std::string>{"slow: client b: ok -> stale",
                                           "slow: client a: failing -> ok",
                                           "added: client b: unknown -> stale"});
    // A target gone from the config is gone from the state.
    settings.notify.erase(settings.notify.begin());
    run_once(state, server({notified_client("a", ClientState::ok)}, k_now + 700), settings);
    REQUIRE(state->targets.size() == 2);
    CHECK(state->targets[0].name == "slow");
}

TEST_CASE("notify: a failed delivery keeps its events for the next run, the others are not "
          "held up") {
    auto settings = settings_with({webhook("down"), webhook("up")});
    std::optional<NotifyState> state;
    auto sent =
        run_once(state, server({notified_client("a", ClientState::stale, {stale_problem()})}),
                 settings, {"down"});
    CHECK(sent == std::vector<std::string>{"up: client a: unknown -> stale"});
    REQUIRE(state->targets[0].pending.size() == 1);
    CHECK(state->targets[0].failures == 1);
    CHECK(state->targets[0].last_error == "unable to notify: refused");
    CHECK_FALSE(state->targets[0].last_sent);
    // The next run retries it with what it missed; the other has nothing new.
    sent = run_once(
        state, server({notified_client("a", ClientState::stale, {stale_problem()})}, k_now + 60),
        settings);
    CHECK(sent == std::vector<std::string>{"down: client a: unknown -> stale"});
    CHECK(state->targets[0].pending.empty());
    CHECK(state->targets[0].failures == 0);
    CHECK_FALSE(state->targets[0].last_error);
    CHECK(state->targets[0].last_sent == k_now + 60);

    // A target that missed a stale and its recovery has nothing left to be told.
    run_once(state,
             server({notified_client("b", ClientState::stale, {stale_problem()})}, k_now + 120),
             settings, {"down"});
    CHECK(state->targets[0].pending.size() == 1);
    sent = run_once(state, server({notified_client("b", ClientState::ok)}, k_now + 180), settings);
    CHECK(sent == std::vector<std::string>{"up: client b: stale -> ok"});
    CHECK(state->targets[0].pending.empty());
}

TEST_CASE("notify: a target whose last delivery failed is a problem until one succeeds") {
    auto settings = settings_with({webhook("down"), webhook("up")});
    std::optional<NotifyState> state;
    run_once(state, server({notified_client("a", ClientState::stale, {stale_problem()})}), settings,
             {"down"});
    run_once(state,
             server({notified_client("a", ClientState::stale, {stale_problem()})}, k_now + 60),
             settings, {"down"});
    auto problems = notify_failures(*state, settings);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].kind == ProblemKind::notify);
    CHECK(problems[0].subject == "down");
    CHECK(problems[0].message == "notify target down failing (2 attempt(s) failed, the last at "
                                 "2027-01-15T08:01:00.000Z: unable to notify: refused); 1 event(s) "
                                 "wait");
    // A target no longer in the config is nobody's problem.
    CHECK(notify_failures(*state, settings_with({webhook("up")})).empty());
    run_once(state,
             server({notified_client("a", ClientState::stale, {stale_problem()})}, k_now + 120),
             settings);
    CHECK(notify_failures(*state, settings).empty());
}

TEST_CASE("notify: a healthchecks target is pinged whenever it may be, with or without events") {
    auto settings = settings_with({webhook("hc", "healthchecks")}, std::chrono::seconds(600));
    std::optional<NotifyState> state;
    auto plan =
        plan_notifications(state, server({notified_client("a", ClientState::ok)}), settings, "b1");
    REQUIRE(plan.deliveries.size() == 1);
    CHECK(plan.deliveries[0].second.healthy);
    CHECK(webhook_request(plan.deliveries[0].second, "healthchecks", "").url_suffix.empty());
    record_delivery(plan.state, "hc", k_now, {});
    state = plan.state;
    auto later = plan_notifications(
        state, server({notified_client("a", ClientState::ok)}, k_now + 60), settings, "b1");
    CHECK(later.deliveries.empty());
    auto failing = plan_notifications(
        state, server({notified_client("a", ClientState::failing, {down_problem()})}, k_now + 601),
        settings, "b1");
    REQUIRE(failing.deliveries.size() == 1);
    auto request = webhook_request(failing.deliveries[0].second, "healthchecks", "");
    CHECK(request.url_suffix == "/fail");
    CHECK(request.body.find("a: ok -> failing") != std::string::npos);
    CHECK(url_with_path_suffix("https://hc-ping.com/abc/", "/fail") ==
          "https://hc-ping.com/abc/fail");
    CHECK(url_with_path_suffix("https://hc.example/ping/k?rid=1", "/fail") ==
          "https://hc.example/ping/k/fail?rid=1");
}

TEST_CASE("notify: the summary and the text for people") {
    auto m = message_with(
        {event("web1", "ok", "stale", {{"stale", "snapshots", "stale: newest snapshot 30h old"}}),
         event("web2", "failing", "ok"), event("web3", "unknown", "failing"),
         event("web4", "failing", "failing")});
    CHECK(notify_summary(m) == "backup server backup1: 2 failing, 1 stale, 1 back to ok");
    std::string text = notify_text(m, true);
    INFO(text);
    CHECK(text.starts_with("backup server backup1: 2 failing, 1 stale, 1 back to ok\n\n"));
    CHECK(text.find("\nweb1: ok -> stale (2027-01-15T08:00:00.000Z)\n"
                    "  - stale: newest snapshot 30h old [stale]\n") != std::string::npos);
    CHECK(text.find("\nweb2: back to ok (was failing) (") != std::string::npos);
    CHECK(text.find("\nweb3: failing (") != std::string::npos);
    CHECK(text.find("\nweb4: still failing, with new problems (") != std::string::npos);
    CHECK(text.find("Needing a person now: web1, web3, web4.") != std::string::npos);
    CHECK(notify_summary(message_with({}, true)) == "backup server backup1: all is well");

    // What comes from file names and remote errors stays on its line.
    auto evil = message_with(
        {event("web1", "ok", "failing", {{"sync-failing", "x", "line\nSubject: injected\r\n"}})});
    CHECK(notify_text(evil, false).find("\nSubject:") == std::string::npos);
}

TEST_CASE("notify: the webhook formats") {
    auto m =
        message_with({event("web1", "ok", "stale", {{"stale", "snapshots", "newest <30h> & more"}}),
                      event("web2", "failing", "ok")});
    auto json = webhook_request(m, "json", "");
    CHECK(json.headers == std::vector<std::string>{"Content-Type: application/json"});
    auto body = util::Json::parse(json.body);
    CHECK(body["schema"] == 1);
    CHECK(body["server"] == "backup1");
    CHECK(body["root"] == "/backups");
    CHECK(body["time"] == "2027-01-15T08:00:00.000Z");
    CHECK(body["healthy"] == false);
    CHECK(body["summary"] == "backup server backup1: 1 stale, 1 back to ok");
    CHECK(body["alerting"] == util::Json::array({"web1"}));
    REQUIRE(body["events"].size() == 2);
    CHECK(body["events"][0] == util::Json::parse(R"({"row": "client", "name": "web1",
        "from": "ok", "to": "stale", "time": "2027-01-15T08:00:00.000Z",
        "problems": [{"kind": "stale", "subject": "snapshots",
                      "message": "newest <30h> & more"}]})"));

    auto slack = util::Json::parse(webhook_request(m, "slack", "").body);
    REQUIRE(slack.size() == 1);
    std::string text = slack["text"];
    CHECK(text.starts_with("backup server backup1: 1 stale, 1 back to ok\n"));
    CHECK(text.find("newest &lt;30h&gt; &amp; more") != std::string::npos);

    auto ntfy = webhook_request(m, "ntfy", "tk_secret");
    CHECK(ntfy.headers ==
          std::vector<std::string>{"Content-Type: text/plain; charset=utf-8",
                                   "Title: backup server backup1: 1 stale, 1 back to ok",
                                   "Priority: high", "Tags: warning",
                                   "Authorization: Bearer tk_secret"});
    CHECK(ntfy.body.starts_with("web1: ok -> stale"));
    auto recovered =
        webhook_request(message_with({event("web2", "failing", "ok")}, true), "ntfy", "");
    CHECK(recovered.headers.at(2) == "Priority: default");
    CHECK(recovered.headers.at(3) == "Tags: white_check_mark");

    auto gotify = util::Json::parse(webhook_request(m, "gotify", "").body);
    CHECK(gotify["title"] == "backup server backup1: 1 stale, 1 back to ok");
    CHECK(gotify["priority"] == 8);
    CHECK(std::string(gotify["message"]).starts_with("web1: ok -> stale"));

    auto hc = webhook_request(m, "healthchecks", "");
    CHECK(hc.url_suffix == "/fail");
    CHECK(hc.body.starts_with("backup server backup1: 1 stale, 1 back to ok\n"));
}

TEST_CASE("notify: the mail, and the command's environment") {
    auto m = message_with({event("web1", "ok", "stale", {{"stale", "snapshots", "old"}})});
    NotifyTarget mail;
    mail.kind = NotifyTarget::Kind::email;
    mail.name = "email ops@example.com";
    mail.to = {"ops@example.com", "oncall@example.com"};
    auto message = notify_mail(m, mail, "20270115T080000Z.abc@backup1");
    CHECK(message.from == "restic-backup@backup1");
    CHECK(message.subject == "backup server backup1: 1 stale");
    CHECK(message.to == mail.to);
    CHECK(message.body.starts_with("web1: ok -> stale"));
    std::string rendered = util::render_mail(message);
    CHECK(rendered.starts_with("Date: Fri, 15 Jan 2027 08:00:00 +0000\n"
                               "From: restic-backup@backup1\n"
                               "To: ops@example.com, oncall@example.com\n"
                               "Subject: backup server backup1: 1 stale\n"
                               "Message-ID: <20270115T080000Z.abc@backup1>\n"
                               "Auto-Submitted: auto-generated\n"
                               "MIME-Version: 1.0\n"
                               "Content-Type: text/plain; charset=utf-8\n"
                               "Content-Transfer-Encoding: 8bit\n\n"
                               "web1: ok -> stale"));
    mail.from = "backup@example.com";
    CHECK(notify_mail(m, mail, "x@y").from == "backup@example.com");

    NotifyTarget command;
    command.kind = NotifyTarget::Kind::command;
    command.name = "command page";
    auto env = notify_command_environment(m, command, {{"PATH", "/usr/bin"}});
    CHECK(env["PATH"] == "/usr/bin");
    CHECK(env["BACKUP_STATUS_SUMMARY"] == "backup server backup1: 1 stale");
    CHECK(env["BACKUP_STATUS_HEALTHY"] == "0");
    CHECK(env["BACKUP_STATUS_SERVER"] == "backup1");
    CHECK(env["BACKUP_STATUS_TARGET"] == "command page");
    CHECK(util::Json::parse(env["BACKUP_STATUS_EVENTS"]) == notify_json(m));
}

TEST_CASE("notify: the token file must be private and hold one plain line") {
    auto dir = util::TempDir::create_in_tmp("unit-notify");
    REQUIRE(dir);
    std::string path = dir->str() + "/token";
    REQUIRE(util::atomic_write(path, "tk_abc123\n", 0600));
    CHECK(read_notify_token(path, false).value_or("") == "tk_abc123");
    REQUIRE(util::atomic_write(path, "T0/B1/xyz\r\n", 0600));
    CHECK(read_notify_token(path, true).value_or("") == "T0/B1/xyz");
    REQUIRE(util::atomic_write(path, "tk_abc123\n", 0644));
    auto open = read_notify_token(path, false);
    REQUIRE_FALSE(open);
    CHECK(open.error().message().find("chmod 600") != std::string::npos);
    for (const char* bad : {"", "two\nlines\n", "has space"}) {
        REQUIRE(util::atomic_write(path, bad, 0600));
        auto refused = read_notify_token(path, false);
        REQUIRE_FALSE(refused);
        CHECK((*bad == '\0' || refused.error().message().find(bad) == std::string::npos));
    }
    REQUIRE(util::atomic_write(path, "abc?x=1#y@evil.example", 0600));
    CHECK_FALSE(read_notify_token(path, true));
    CHECK(read_notify_token(path, false));
}
