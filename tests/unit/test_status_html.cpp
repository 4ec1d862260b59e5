#include "status/html.hpp"

#include <catch2/catch.hpp>

#include "support/status_samples.hpp"

#include "support/unit_helpers.hpp"

#include <algorithm>
#include <numeric>
#include <regex>

#include <fmt/format.h>

#include "util/text.hpp"

using namespace backup;
using namespace backup::core;

namespace {

using test::k_day;
using test::k_now;

using backup::test::status_client;

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

// Every element closed in order, void elements excepted: returns the first mismatch, or "".
std::string tag_mismatch(const std::string& page) {
    static const std::regex tag(R"(<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>)");
    static const std::vector<std::string> k_void = {"meta", "br", "hr", "img", "input", "link"};
    std::vector<std::string> open;
    for (std::sregex_iterator it(page.begin(), page.end(), tag), end; it != end; ++it) {
        std::string name = (*it)[2];
        if ((*it)[3] == "/" || std::find(k_void.begin(), k_void.end(), name) != k_void.end()) {
            continue;
        }
        if ((*it)[1] == "") {
            open.push_back(name);
        } else if (open.empty() || open.back() != name) {
            return "</" + name + "> closes " + (open.empty() ? "nothing" : "<" + open.back() + ">");
        } else {
            open.pop_back();
        }
    }
    return open.empty() ? "" : "<" + open.back() + "> never closed";
}

ServerStatus sample_status() {
    ServerStatus s;
    s.now = k_now;
    s.root = "/backups";
    auto ok = status_client("web1", ClientState::ok);
    ok.snapshot_times = {k_now - 2 * k_day, k_now - 3600};
    ok.newest_snapshot = k_now - 3600;
    ok.snapshots = 2;
    ok.destinations = {{"disk2", "ok", k_now - 3000}};
    s.clients = {
        ok,
        status_client("db1", ClientState::stale,
                      {{ProblemKind::stale, "snapshots", "stale: newest snapshot 2d old"}}),
        status_client("mail", ClientState::failing,
                      {{ProblemKind::destination_failing, "s3",
                        "destination s3 failed: <script>alert(1)</script> & \xff more"}}),
        status_client("off", ClientState::disabled),
        status_client("nouveau", ClientState::fresh),
        status_client("broken", ClientState::error,
                      {{ProblemKind::config, "client.yaml", "client.yaml:3: bad"}})};
    InstanceInfo i;
    i.kind = "versitygw";
    i.enabled = true;
    i.port = 7070;
    i.clients = 3;
    s.instances = {i};
    FilesystemInfo f;
    f.path = "/backups";
    f.size_bytes = 1000;
    f.free_bytes = 250;
    s.filesystems = {f};
    return s;
}

} // namespace

TEST_CASE("html escape: markup characters as references, bad UTF-8 and controls replaced") {
    CHECK(util::html_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
    CHECK(util::html_escape("zürich") == "zürich");
    CHECK(util::html_escape("x\xffy") == "x\xef\xbf\xbdy");
    CHECK(util::html_escape("\xe9t\xc3") == "\xef\xbf\xbdt\xef\xbf\xbd");
    CHECK(util::html_escape(std::string("a\0b\x1b", 4)) == "a\xef\xbf\xbd"
                                                           "b\xef\xbf\xbd");
    CHECK(util::html_escape("tab\tnewline\n") == "tab\tnewline\n");
}

TEST_CASE("html strip: snapshots counted per UTC day, oldest first, today last") {
    std::int64_t today = k_now / k_day * k_day;
    auto counts =
        daily_snapshot_counts({today - 40 * k_day, today - 29 * k_day, today - 2 * k_day + 5,
                               today - 2 * k_day + 9, today + 10, k_now + 5 * k_day},
                              k_now);
    REQUIRE(counts.size() == 30);
    CHECK(counts[0] == 1);  // 29 days ago: the first day of the strip; 40 days ago: not at all
    CHECK(counts[27] == 2); // two the day before yesterday
    CHECK(counts[28] == 0);
    CHECK(counts[29] == 2); // today, and one from the future
    CHECK(std::accumulate(counts.begin(), counts.end(), 0) == 5);
    CHECK(daily_snapshot_counts({}, k_now, 7) == std::vector<int>(7, 0));
}

TEST_CASE("html strip: one bar per day with a snapshot, its count as text and title") {
    ServerStatus s;
    s.now = k_now;
    auto c = status_client("web1", ClientState::ok);
    for (int ago : {0, 1, 5, 5}) {
        c.snapshot_times.push_back(k_now - ago * k_day);
    }
    s.clients = {c};
    std::string page = render_status_html(s, nullptr);
    CHECK(page.find("<title>3 of the last 30 days had a snapshot</title>") != std::string::npos);
    CHECK(page.find(R"(aria-label="3 of the last 30 days had a snapshot")") != std::string::npos);
    CHECK(page.find("3 of 30 days") != std::string::npos);
    // Bars at x = 4 * day index: today (29), yesterday (28), five days ago (24).
    CHECK(page.find(R"(<path class="hit" d="M96 1h3v14h-3zM112 1h3v14h-3zM116 1h3v14h-3z"/>)") !=
          std::string::npos);
    CHECK(count_of(page, "h3v2h-3z") == 27); // a low tick for each day without
}

TEST_CASE("html page: every state as a word, every row, the shared instance and the disk") {
    std::string page = render_status_html(sample_status(), nullptr);
    for (const auto* state : {"ok", "stale", "failing", "disabled", "new", "error"}) {
        INFO(state);
        CHECK(page.find(fmt::format(R"(<span class="st st-{0}">{0}</span>)", state)) !=
              std::string::npos);
    }
    for (const auto* host : {"web1", "db1", "mail", "off", "nouveau", "broken"}) {
        CHECK(page.find(fmt::format(R"(<th scope="row">{})", host)) != std::string::npos);
    }
    CHECK(page.find(R"(<tr id="shared-versitygw">)") != std::string::npos);
    CHECK(page.find(R"(<th scope="row">/backups</th>)") != std::string::npos);
    CHECK(page.find("75% used") != std::string::npos);
    CHECK(page.find("disk2 <span class=\"st st-ok\">ok</span>, up to date") != std::string::npos);
    CHECK(page.find("3 of 6 clients need attention") != std::string::npos);
}

TEST_CASE("html page: what comes from files is escaped, invalid UTF-8 replaced") {
    auto s = sample_status();
    s.root = "/srv/<b>&";
    std::string page = render_status_html(s, nullptr);
    CHECK(page.find("<script") == std::string::npos);
    CHECK(page.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; \xef\xbf\xbd more") !=
          std::string::npos);
    CHECK(page.find("/srv/&lt;b&gt;&amp;") != std::string::npos);
    CHECK(util::to_valid_utf8(page) == page);
}

TEST_CASE("html page: well formed, self-contained, for phones and screen readers") {
    std::string page = render_status_html(sample_status(), nullptr);
    CHECK(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    CHECK(tag_mismatch(page) == "");
    CHECK(page.find(R"(<meta name="viewport" content="width=device-width, initial-scale=1">)") !=
          std::string::npos);
    CHECK(page.find("<caption>6 clients: ") != std::string::npos);
    CHECK(count_of(page, "<table") == 3);
    CHECK(count_of(page, "<caption>") == 3);
    CHECK(count_of(page, "<th scope=\"col\">") >= 9);
    // Nothing loaded from elsewhere, nothing run.
    CHECK(page.find("<script") == std::string::npos);
    CHECK(page.find("src=") == std::string::npos);
    CHECK(page.find("<link") == std::string::npos);
    CHECK(page.find("http") == page.find("http-equiv"));
    // Every picture has a title and a label.
    CHECK(count_of(page, "<svg") == count_of(page, "<title>") - 1);
    CHECK(count_of(page, "<svg") == count_of(page, "aria-label="));
}

TEST_CASE("html audit coverage: the share of the cycle and the last full coverage") {
    AuditInfo a;
    a.label = "repository";
    a.result = "clean";
    a.mode = "rotation";
    a.cycle_length = 30;
    a.position = 12;
    a.finished = k_now;
    CHECK(audit_coverage_text(a) == "40% of the files hashed this cycle (12 of 30 runs), "
                                    "never fully covered yet");
    a.last_full_coverage = k_now - 12 * k_day;
    CHECK(audit_coverage_text(a) == "40% of the files hashed this cycle (12 of 30 runs), "
                                    "last full coverage 2027-01-03");
    a.position = 0;
    a.last_full_coverage = k_now;
    CHECK(audit_coverage_text(a) == "every file hashed, last full coverage 2027-01-15");
    a.mode = "all";
    a.last_full_coverage = std::nullopt;
    CHECK(audit_coverage_text(a) == "full pass (--all) under way, never fully covered yet");
}
