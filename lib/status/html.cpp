// The status page. Plain HTML a terminal browser reads as tables and lists (a space before each
// block of secondary text, so w3m does not run it into the word before); the CSS makes the
// clients' table stacked cards on a narrow screen and follows the reader's dark or light
// preference. Every text that comes from a file goes through util::html_escape.
#include "status/html.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

namespace {

using util::html_escape;

// Nothing but the inline style may load: an asset slipped in by mistake is blocked (and a
// browser's console says so), never fetched.
constexpr std::string_view k_head = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="backup-status">
)";

constexpr std::string_view k_style = R"(<style>
:root{color-scheme:light dark;--bg:#fff;--fg:#1c1c1c;--muted:#5a5a5a;--line:#d4d4d4;
--ok:#17692d;--new:#0a58a8;--off:#5f5f5f;--stale:#8a5a00;--bad:#b3261e;--miss:#c9c9c9}
@media (prefers-color-scheme:dark){:root{--bg:#141414;--fg:#e6e6e6;--muted:#a6a6a6;
--line:#3b3b3b;--ok:#5ccf7b;--new:#78b6ff;--off:#a0a0a0;--stale:#e6b44c;--bad:#ff7b72;
--miss:#4a4a4a}}
body{margin:0 auto;max-width:96rem;padding:.75rem 1rem 2rem;background:var(--bg);
color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
.meta,.note,thead th{color:var(--muted)}.meta{font-size:.85rem;display:block}
table{border-collapse:collapse;width:100%}
caption{text-align:left;padding:.3rem 0;color:var(--muted)}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line)}
thead th{font-size:.78rem;font-weight:600;text-transform:uppercase;letter-spacing:.03em;
white-space:nowrap}
tbody th{font-weight:600;overflow-wrap:anywhere}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
ul.plain{list-style:none;margin:0;padding:0}ul.plain li+li{margin-top:.2rem}
.st{display:inline-block;padding:0 .45em;border:1px solid currentColor;border-radius:.7em;
font-weight:600;white-space:nowrap}
.st-ok{color:var(--ok)}.st-new{color:var(--new)}.st-disabled{color:var(--off)}
.st-stale{color:var(--stale)}.st-failing,.st-error{color:var(--bad)}
.st-error{border-style:dashed}
tr.st-row-stale>th{box-shadow:inset 4px 0 var(--stale)}
tr.st-row-failing>th,tr.st-row-error>th{box-shadow:inset 4px 0 var(--bad)}
.strip .hit,.spark,.use .used{fill:var(--ok)}.strip .miss,.use .free{fill:var(--miss)}
.spark{fill:none;stroke:var(--ok);stroke-width:1.5}
svg{vertical-align:middle}
.scroll{overflow-x:auto}
.overall{font-size:1.1rem;margin:.5rem 0}
.attention li{margin:.25rem 0}
a{color:inherit}
@media (max-width:44rem){
body{padding:.5rem}
table.clients thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.clients,table.clients tbody,table.clients tr,table.clients th,table.clients td{
display:block}
table.clients tr{border:1px solid var(--line);border-radius:.5rem;margin:.6rem 0;
padding:.35rem .6rem}
table.clients th,table.clients td{border:0;padding:.2rem 0}
table.clients caption{display:block}
table.clients td{position:relative;padding-left:7rem}
table.clients td::before{content:attr(data-label);position:absolute;left:0;width:6.5rem;
color:var(--muted);font-size:.85rem}
table.clients td.num{text-align:left}
}
</style>
)";

using Out = std::back_insert_iterator<std::string>;

std::string ago(std::int64_t now, std::int64_t then) {
    std::int64_t d = now - then;
    std::string span = util::format_duration(std::chrono::seconds(std::llabs(d)));
    return d >= 0 ? span + " ago" : "in " + span;
}

// A time as people read it, with the exact one for machines.
void time_tag(Out out, std::int64_t now, std::int64_t t) {
    fmt::format_to(out, R"(<time datetime="{}">{}</time>)", util::format_time(t), ago(now, t));
}

std::string date_of(std::int64_t t) {
    return util::format_time(t).substr(0, 10);
}

std::string size_per_day(double bytes) {
    auto whole = static_cast<std::int64_t>(std::llround(bytes));
    return fmt::format("{}{}/day", whole < 0 ? "-" : "+",
                       util::format_size(static_cast<std::uint64_t>(std::llabs(whole))));
}

void problem_list(Out out, const std::vector<Problem>& problems) {
    if (problems.empty()) {
        fmt::format_to(out, "none");
        return;
    }
    fmt::format_to(out, R"(<ul class="plain">)");
    for (const auto& p : problems) {
        fmt::format_to(out, "<li>{}</li>", html_escape(p.message));
    }
    fmt::format_to(out, "</ul>");
}

std::string services_text(std::int64_t now, const ClientInfo& c) {
    std::size_t up = 0;
    std::optional<std::int64_t> since;
    for (const auto& s : c.services) {
        if (s.up()) {
            ++up;
            since = since ? std::max(*since, s.status->since_unix) : s.status->since_unix;
        }
    }
    if (!c.services.empty() && up == c.services.size()) {
        return fmt::format("services up for {}",
                           util::format_duration(std::chrono::seconds(now - since.value_or(now))));
    }
    if (up == 0 && (!c.enabled || c.access_disabled)) {
        return "services off";
    }
    return fmt::format("{} of {} services down", c.services.size() - up, c.services.size());
}

// 30 bars, one a day: a full bar for a day with a snapshot, a low tick for one without, so the
// picture does not depend on its colours; the count is its text alternative.
void snapshot_strip(Out out, const ClientInfo& c, std::int64_t now) {
    auto counts = daily_snapshot_counts(c.snapshot_times, now);
    int days =
        static_cast<int>(std::count_if(counts.begin(), counts.end(), [](int n) { return n > 0; }));
    std::string hit;
    std::string miss;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] > 0) {
            fmt::format_to(std::back_inserter(hit), "M{} 1h3v14h-3z", i * 4);
        } else {
            fmt::format_to(std::back_inserter(miss), "M{} 13h3v2h-3z", i * 4);
        }
    }
    std::string label = fmt::format("{} of the last {} days had a snapshot", days, counts.size());
    fmt::format_to(out,
                   R"(<svg class="strip" width="{0}" height="16" viewBox="0 0 {0} 16" )"
                   R"(role="img" aria-label="{1}"><title>{1}</title>)",
                   counts.size() * 4, label);
    if (!hit.empty()) {
        fmt::format_to(out, R"(<path class="hit" d="{}"/>)", hit);
    }
    if (!miss.empty()) {
        fmt::format_to(out, R"(<path class="miss" d="{}"/>)", miss);
    }
    fmt::format_to(out, R"(</svg> <span class="meta">{} of {} days</span>)", days, counts.size());
}

// The repository's size over the last 30 days of samples, when there are two or more.
void size_sparkline(Out out, const CapacityHistory* history, const ClientInfo& c,
                    std::int64_t now) {
    if (history == nullptr) {
        return;
    }
    auto it = history->clients.find(c.host);
    if (it == history->clients.end()) {
        return;
    }
    std::int64_t first = now / 86400 - (k_strip_days - 1);
    std::vector<CapacitySample> samples;
    std::copy_if(it->second.begin(), it->second.end(), std::back_inserter(samples),
                 [&](const CapacitySample& s) { return s.day >= first; });
    if (samples.size() < 2) {
        return;
    }
    auto [low, high] = std::minmax_element(
        samples.begin(), samples.end(),
        [](const CapacitySample& a, const CapacitySample& b) { return a.bytes < b.bytes; });
    double range = static_cast<double>(high->bytes - low->bytes);
    std::string points;
    for (const auto& s : samples) {
        double y = range > 0 ? 14.0 - 12.0 * static_cast<double>(s.bytes - low->bytes) / range : 8;
        fmt::format_to(std::back_inserter(points), "{}{},{:.1f}", points.empty() ? "" : " ",
                       (s.day - first) * 2, y);
    }
    std::string label = fmt::format("size over the last {} days: {} to {}", k_strip_days,
                                    util::format_size(samples.front().bytes),
                                    util::format_size(samples.back().bytes));
    fmt::format_to(out,
                   R"(<svg class="sparkline" width="60" height="16" viewBox="0 0 60 16" )"
                   R"(role="img" aria-label="{0}"><title>{0}</title>)"
                   R"(<polyline class="spark" points="{1}"/></svg>)",
                   label, points);
}

// What keep_deleted keeps there: nothing for a forever destination without deletions.
void retention_text(Out out, const DestinationInfo& d, std::int64_t now) {
    if (d.keep_deleted == "forever" && d.pending_deletions == 0) {
        return;
    }
    fmt::format_to(out, R"( <span class="meta">keeps deleted files {})",
                   d.keep_deleted == "forever" ? "forever" : "for " + html_escape(d.keep_deleted));
    if (d.pending_deletions > 0) {
        fmt::format_to(out, ", {} to delete ({})", d.pending_deletions,
                       util::format_size(d.pending_deletion_bytes));
        if (d.next_deletion_due) {
            fmt::format_to(out, ", the next {}",
                           *d.next_deletion_due <= now
                               ? std::string("due now")
                               : "in " + util::format_duration(
                                             std::chrono::seconds(*d.next_deletion_due - now)));
        }
    }
    fmt::format_to(out, "</span>");
    if (d.deletions_frozen) {
        fmt::format_to(out, R"( <span class="st st-new">deletions frozen</span>)");
    }
}

void destinations_cell(Out out, const ClientInfo& c, std::int64_t now) {
    if (c.destinations.empty()) {
        fmt::format_to(out, "none");
        return;
    }
    fmt::format_to(out, R"(<ul class="plain">)");
    for (const auto& d : c.destinations) {
        std::string cls = d.state == "ok" ? "ok" : d.state == "never" ? "new" : "failing";
        fmt::format_to(out, R"(<li>{} <span class="st st-{}">{}</span>)", html_escape(d.name), cls,
                       html_escape(d.state));
        if (d.missing_snapshots == 0 && d.state == "ok") {
            fmt::format_to(out, ", up to date");
        } else if (d.missing_snapshots > 0) {
            fmt::format_to(out, ", {} snapshot{} behind", d.missing_snapshots,
                           d.missing_snapshots == 1 ? "" : "s");
            if (d.newest_missing) {
                fmt::format_to(out, " (the newest arrived {})", ago(now, *d.newest_missing));
            }
        }
        if (d.last_success && d.state != "ok") {
            fmt::format_to(out, R"( <span class="meta">last success )");
            time_tag(out, now, *d.last_success);
            fmt::format_to(out, "</span>");
        }
        retention_text(out, d, now);
        fmt::format_to(out, "</li>");
    }
    fmt::format_to(out, "</ul>");
}

void audits_cell(Out out, const ClientInfo& c, std::int64_t now) {
    if (c.audits.empty()) {
        fmt::format_to(out, "never audited");
        return;
    }
    fmt::format_to(out, R"(<ul class="plain">)");
    for (const auto& a : c.audits) {
        std::string cls = a.result == "clean" ? "ok" : "failing";
        fmt::format_to(out, R"(<li>{} <span class="st st-{}">{}</span>)", html_escape(a.label), cls,
                       html_escape(a.result));
        if (a.findings > 0) {
            fmt::format_to(out, ", {} finding{}", a.findings, a.findings == 1 ? "" : "s");
        }
        if (a.finished) {
            fmt::format_to(out, ", ");
            time_tag(out, now, *a.finished);
        }
        fmt::format_to(out, R"( <span class="meta">{}</span></li>)",
                       html_escape(audit_coverage_text(a)));
    }
    fmt::format_to(out, "</ul>");
}

void size_cells(Out out, const ClientInfo& c, const CapacityHistory* history, std::int64_t now) {
    // A remote primary's repository is not measured: only its snapshots/ is listed.
    fmt::format_to(out, R"(<td class="num" data-label="Size">{})",
                   c.remote_repository.empty() ? util::format_size(c.repository_bytes) : "-");
    if (c.quota) {
        fmt::format_to(out, R"( <span class="meta">quota {} of {} ({}%)</span>)",
                       util::format_size(c.quota_used), util::format_size(*c.quota),
                       *c.quota > 0 ? c.quota_used * 100 / *c.quota : 0);
    }
    fmt::format_to(out, R"(</td><td class="num" data-label="Growth">)");
    size_sparkline(out, history, c, now);
    fmt::format_to(out, "{}</td>",
                   c.growth_bytes_per_day ? size_per_day(*c.growth_bytes_per_day) : "-");
}

void client_row(Out out, const ClientInfo& c, std::int64_t now, const CapacityHistory* history) {
    std::string state(to_string(c.state));
    fmt::format_to(out, R"(<tr id="client-{0}" class="st-row-{1}"><th scope="row">{0})",
                   html_escape(c.host), state);
    if (c.state != ClientState::error) {
        fmt::format_to(out, R"( <span class="meta">{}, {}; {}</span>)", html_escape(c.kind),
                       html_escape(c.topology), services_text(now, c));
    }
    fmt::format_to(out,
                   R"(</th><td data-label="State"><span class="st st-{0}">{0}</span></td>)"
                   R"(<td data-label="Last 30 days">)",
                   state);
    if (c.state == ClientState::error) {
        fmt::format_to(out,
                       R"(-</td><td data-label="Newest">-</td><td data-label="Replicas">-)"
                       R"(</td><td data-label="Audit">-</td><td class="num" )"
                       R"(data-label="Size">-</td><td class="num" data-label="Growth">-</td>)");
    } else {
        snapshot_strip(out, c, now);
        fmt::format_to(out, R"(</td><td data-label="Newest">)");
        if (c.newest_snapshot) {
            time_tag(out, now, *c.newest_snapshot);
        } else {
            fmt::format_to(out, "never");
        }
        fmt::format_to(out, R"( <span class="meta">{} snapshot{}</span></td>)", c.snapshots,
                       c.snapshots == 1 ? "" : "s");
        fmt::format_to(out, R"(<td data-label="Replicas">)");
        destinations_cell(out, c, now);
        fmt::format_to(out, R"(</td><td data-label="Audit">)");
        audits_cell(out, c, now);
        fmt::format_to(out, "</td>");
        size_cells(out, c, history, now);
    }
    fmt::format_to(out, R"(<td data-label="Problems">)");
    problem_list(out, c.problems);
    fmt::format_to(out, "</td></tr>\n");
}

std::string state_counts(const std::vector<ClientInfo>& clients) {
    std::string out;
    for (auto state : {ClientState::ok, ClientState::fresh, ClientState::disabled,
                       ClientState::stale, ClientState::failing, ClientState::error}) {
        auto n = std::count_if(clients.begin(), clients.end(),
                               [&](const ClientInfo& c) { return c.state == state; });
        if (n > 0) {
            out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, to_string(state));
        }
    }
    return out;
}

void clients_table(Out out, const ServerStatus& status, const CapacityHistory* history) {
    fmt::format_to(
        out,
        R"(<section aria-labelledby="clients"><h2 id="clients">Clients</h2>)"
        R"(<div class="scroll"><table class="clients"><caption>{} client{}: {}</caption>)"
        R"(<thead><tr><th scope="col">Client</th><th scope="col">State</th>)"
        R"(<th scope="col">Last 30 days</th><th scope="col">Newest snapshot</th>)"
        R"(<th scope="col">Replicas</th><th scope="col">Audit</th>)"
        R"(<th scope="col">Size</th><th scope="col">Growth</th>)"
        R"(<th scope="col">Problems</th></tr></thead><tbody>)"
        "\n",
        status.clients.size(), status.clients.size() == 1 ? "" : "s",
        status.clients.empty() ? "none provisioned" : state_counts(status.clients));
    for (const auto& c : status.clients) {
        client_row(out, c, status.now, history);
    }
    fmt::format_to(out, "</tbody></table></div></section>\n");
}

void instances_table(Out out, const ServerStatus& status) {
    if (status.instances.empty()) {
        return;
    }
    fmt::format_to(out,
                   R"(<section aria-labelledby="shared"><h2 id="shared">Shared storage servers)"
                   R"(</h2><div class="scroll"><table><caption>Instances that serve several )"
                   R"(clients</caption><thead><tr><th scope="col">Server</th>)"
                   R"(<th scope="col">State</th><th scope="col">Service</th>)"
                   R"(<th scope="col">Port</th><th scope="col">Clients</th>)"
                   R"(<th scope="col">Certificate</th><th scope="col">Problems</th></tr>)"
                   R"(</thead><tbody>)"
                   "\n");
    for (const auto& i : status.instances) {
        std::string state = i.ok() ? "ok" : "failing";
        std::string service = !i.enabled ? "off"
                              : i.service.up()
                                  ? "up for " + util::format_duration(std::chrono::seconds(
                                                    status.now - i.service.status->since_unix))
                                  : "down";
        fmt::format_to(out,
                       R"(<tr id="shared-{0}"><th scope="row">{0}</th><td><span )"
                       R"(class="st st-{1}">{1}</span></td><td>{2}</td><td class="num">{3}</td>)"
                       R"(<td class="num">{4}</td><td>)",
                       html_escape(i.kind), state, service, i.port, i.clients);
        if (i.certificate_expires) {
            fmt::format_to(out, "expires ");
            time_tag(out, status.now, *i.certificate_expires);
        } else {
            fmt::format_to(out, "{}", i.tls ? "unreadable" : "no TLS");
        }
        fmt::format_to(out, "</td><td>");
        problem_list(out, i.problems);
        fmt::format_to(out, "</td></tr>\n");
    }
    fmt::format_to(out, "</tbody></table></div></section>\n");
}

// A bar of what is used, so a nearly full disk shows at a glance; the share is its text.
void usage_bar(Out out, const FilesystemInfo& f) {
    if (f.size_bytes == 0) {
        return;
    }
    std::uint64_t used = f.size_bytes - std::min(f.free_bytes, f.size_bytes);
    auto percent = static_cast<int>(used * 100 / f.size_bytes);
    fmt::format_to(out,
                   R"(<svg class="use" width="60" height="10" viewBox="0 0 100 10" role="img" )"
                   R"(aria-label="{0}% used"><title>{0}% used</title>)"
                   R"(<rect class="free" width="100" height="10"/>)"
                   R"(<rect class="used" width="{0}" height="10"/></svg> {0}% used)",
                   percent);
}

void filesystems_table(Out out, const ServerStatus& status) {
    if (status.filesystems.empty()) {
        return;
    }
    fmt::format_to(out,
                   R"(<section aria-labelledby="disks"><h2 id="disks">Filesystems</h2>)"
                   R"(<div class="scroll"><table><caption>Where the repositories are, and when )"
                   R"(each fills at the growth of the last 30 days</caption><thead><tr>)"
                   R"(<th scope="col">Filesystem</th><th scope="col">State</th>)"
                   R"(<th scope="col">Used</th><th scope="col">Size</th><th scope="col">Free)"
                   R"(</th><th scope="col">Growth</th><th scope="col">Full by</th>)"
                   R"(<th scope="col">Clients</th><th scope="col">Problems</th></tr></thead>)"
                   R"(<tbody>)"
                   "\n");
    for (const auto& f : status.filesystems) {
        std::string state = f.ok() ? "ok" : "failing";
        fmt::format_to(out,
                       R"(<tr><th scope="row">{0}</th><td><span class="st st-{1}">{1}</span>)"
                       R"(</td><td>)",
                       html_escape(f.path), state);
        usage_bar(out, f);
        fmt::format_to(out,
                       R"(</td><td class="num">{}</td><td class="num">{}</td>)"
                       R"(<td class="num">{}</td><td>{}</td><td class="num">{}</td><td>)",
                       util::format_size(f.size_bytes), util::format_size(f.free_bytes),
                       f.growth_bytes_per_day ? size_per_day(*f.growth_bytes_per_day) : "-",
                       f.full_by ? date_of(*f.full_by) : "-", f.clients.size());
        problem_list(out, f.problems);
        fmt::format_to(out, "</td></tr>\n");
    }
    fmt::format_to(out, "</tbody></table></div></section>\n");
}

// What needs a person, first, each with a link to its row: the part of the page to read on a
// phone.
void attention_list(Out out, const ServerStatus& status) {
    std::string items;
    auto item = std::back_inserter(items);
    for (const auto& c : status.clients) {
        if (c.ok()) {
            continue;
        }
        std::string state(to_string(c.state));
        fmt::format_to(item,
                       R"(<li><a href="#client-{0}">{0}</a> <span class="st st-{1}">{1})"
                       R"(</span> {2}{3}</li>)",
                       html_escape(c.host), state, html_escape(c.problems.front().message),
                       c.problems.size() > 1 ? fmt::format(" (and {} more)", c.problems.size() - 1)
                                             : "");
    }
    for (const auto& i : status.instances) {
        for (const auto& p : i.problems) {
            fmt::format_to(item, R"(<li><a href="#shared-{0}">shared {0}</a> {1}</li>)",
                           html_escape(i.kind), html_escape(p.message));
        }
    }
    for (const auto& f : status.filesystems) {
        for (const auto& p : f.problems) {
            fmt::format_to(item, "<li>{}</li>", html_escape(p.message));
        }
    }
    for (const auto& p : status.problems) {
        fmt::format_to(item, "<li>{}</li>", html_escape(p.message));
    }
    if (!items.empty()) {
        fmt::format_to(out,
                       R"(<section aria-labelledby="attention"><h2 id="attention">Needs )"
                       R"(attention</h2><ul class="attention">{}</ul></section>)"
                       "\n",
                       items);
    }
}

} // namespace

std::vector<int> daily_snapshot_counts(const std::vector<std::int64_t>& times, std::int64_t now,
                                       int days) {
    std::vector<int> counts(static_cast<std::size_t>(std::max(days, 0)), 0);
    std::int64_t today = now / 86400;
    std::int64_t first = today - days + 1;
    for (auto t : times) {
        std::int64_t day = std::min(t / 86400, today);
        if (t >= 0 && day >= first) {
            ++counts[static_cast<std::size_t>(day - first)];
        }
    }
    return counts;
}

std::string audit_coverage_text(const AuditInfo& a) {
    std::string full = a.last_full_coverage ? "last full coverage " + date_of(*a.last_full_coverage)
                                            : std::string("never fully covered yet");
    // restic-audit records a coverage as finished with the run that completed it. A file's slot
    // follows from its name's hash, so the slots done are the share of the files hashed.
    if (a.last_full_coverage && a.finished && *a.last_full_coverage == *a.finished) {
        return fmt::format("every file hashed, {}", full);
    }
    if (a.mode == "all") {
        return fmt::format("full pass (--all) under way, {}", full);
    }
    int length = std::max(a.cycle_length, 1);
    return fmt::format("{}% of the files hashed this cycle ({} of {} runs), {}",
                       a.position * 100 / length, a.position, length, full);
}

std::string render_status_html(const ServerStatus& status, const CapacityHistory* history) {
    std::string page;
    page.reserve(4096 + status.clients.size() * 2048);
    Out out = std::back_inserter(page);
    auto needing = std::count_if(status.clients.begin(), status.clients.end(),
                                 [](const ClientInfo& c) { return !c.ok(); });
    std::string verdict = status.healthy() ? std::string("all well")
                          : needing > 0    ? fmt::format("{} of {} clients need attention", needing,
                                                         status.clients.size())
                                           : std::string("something needs attention");
    fmt::format_to(out, "{}<title>Backups: {}</title>\n{}</head>\n<body>\n", k_head, verdict,
                   k_style);
    fmt::format_to(out,
                   R"(<header><h1>Backup server status</h1><p class="overall"><span )"
                   R"(class="st st-{}">{}</span></p><p class="note">{} under {}, )"
                   R"(<time datetime="{}">{} UTC</time>. This page is written by )"
                   R"(backup-status --html and does not refresh itself.</p></header>)"
                   "\n<main>\n",
                   status.healthy() ? "ok" : "failing", verdict,
                   status.clients.empty() ? "No clients" : state_counts(status.clients),
                   html_escape(status.root.string()), util::format_time(status.now),
                   util::format_time(status.now).substr(0, 16).replace(10, 1, " "));
    attention_list(out, status);
    clients_table(out, status, history);
    instances_table(out, status);
    filesystems_table(out, status);
    fmt::format_to(out, "</main>\n</body>\n</html>\n");
    return page;
}

} // namespace backup::core
