#include "status/render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "util/prometheus.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::Json;

namespace {

std::string duration_text(std::int64_t seconds) {
    return util::format_duration(std::chrono::seconds(seconds));
}

std::string join_messages(const std::vector<Problem>& problems) {
    std::string out;
    for (const auto& p : problems) {
        out += (out.empty() ? "" : "; ") + p.message;
    }
    return out.empty() ? "ok" : out;
}

// Columns padded to their widest cell (counted in UTF-8 characters); the last one is not padded,
// right_aligned ones are padded on the left.
class Table {
public:
    Table(std::vector<std::string> header, std::vector<bool> right_aligned)
        : m_right(std::move(right_aligned)) {
        m_rows.push_back(std::move(header));
    }
    void add(std::vector<std::string> row, const char* color = nullptr) {
        m_rows.push_back(std::move(row));
        m_colors.resize(m_rows.size(), nullptr);
        m_colors.back() = color;
    }
    std::string render() const {
        std::vector<std::size_t> width(m_rows.front().size(), 0);
        for (const auto& row : m_rows) {
            for (std::size_t i = 0; i < row.size(); ++i) {
                width[i] = std::max(width[i], util::utf8_length(row[i]));
            }
        }
        std::string out;
        for (std::size_t r = 0; r < m_rows.size(); ++r) {
            std::string line;
            const auto& row = m_rows[r];
            for (std::size_t i = 0; i < row.size(); ++i) {
                std::string pad(width[i] - util::utf8_length(row[i]), ' ');
                bool last = i + 1 == row.size();
                if (m_right[i]) {
                    line += pad + row[i];
                } else {
                    line += row[i] + (last ? "" : pad);
                }
                line += last ? "" : "  ";
            }
            const char* color = r < m_colors.size() ? m_colors[r] : nullptr;
            out += color != nullptr ? std::string(color) + line + "\033[0m\n" : line + "\n";
        }
        return out;
    }

private:
    std::vector<std::vector<std::string>> m_rows;
    std::vector<bool> m_right;
    std::vector<const char*> m_colors;
};

// All up: for how long (the shortest); none up while off on purpose: "off"; else "down N/M".
std::string services_text(std::int64_t now, const std::vector<ServiceInfo>& services, bool active) {
    std::size_t up = 0;
    std::optional<std::int64_t> up_for;
    for (const auto& s : services) {
        if (s.up()) {
            ++up;
            std::int64_t t = now - s.status->since_unix;
            up_for = up_for ? std::min(*up_for, t) : t;
        }
    }
    if (up == services.size() && !services.empty()) {
        return "up " + duration_text(up_for.value_or(0));
    }
    if (up == 0 && !active) {
        return "off";
    }
    return fmt::format("down {}/{}", services.size() - up, services.size());
}

std::string replicas_text(const ClientInfo& c) {
    std::string out;
    for (const auto& d : c.destinations) {
        std::string state = d.state;
        if (d.state == "ok") {
            state = d.missing_snapshots == 0 ? "ok" : fmt::format("-{}", d.missing_snapshots);
        } else if (d.state == "deletion held") {
            state = "held";
        }
        if (d.deletions_frozen) {
            state += "(frozen)";
        }
        out += fmt::format("{}{}:{}", out.empty() ? "" : ",", d.name, state);
    }
    return out.empty() ? "-" : out;
}

std::string size_text(const ClientInfo& c) {
    if (!c.remote_repository.empty()) {
        return "-"; // only its snapshots are listed, never the whole repository
    }
    if (c.quota) {
        return fmt::format("{}/{}", util::format_size(c.quota_used), util::format_size(*c.quota));
    }
    return util::format_size(c.repository_bytes);
}

std::string growth_text(const std::optional<double>& growth) {
    if (!growth) {
        return "-";
    }
    auto bytes = static_cast<std::int64_t>(std::llround(*growth));
    return fmt::format("{}{}/d", bytes < 0 ? "-" : "+",
                       util::format_size(static_cast<std::uint64_t>(std::llabs(bytes))));
}

const char* color_of(ClientState state) {
    switch (state) {
    case ClientState::stale:
        return "\033[33m";
    case ClientState::failing:
    case ClientState::error:
        return "\033[31m";
    default:
        return nullptr;
    }
}

std::string client_table(const ServerStatus& status, bool color) {
    Table t({"CLIENT", "STATE", "SERVICES", "SNAPSHOTS", "NEWEST", "SIZE", "REPLICAS", "AUDIT",
             "PROBLEMS"},
            {false, false, false, true, true, true, false, false, false});
    for (const auto& c : status.clients) {
        if (c.state == ClientState::error) {
            t.add({c.host, "error", "-", "-", "-", "-", "-", "-", join_messages(c.problems)},
                  color ? color_of(c.state) : nullptr);
            continue;
        }
        auto last_audit = c.last_audit();
        std::string audit =
            last_audit ? (c.audit_findings() > 0 ? fmt::format("{} found", c.audit_findings())
                                                 : duration_text(status.now - *last_audit))
                       : "never";
        t.add({c.host, std::string(to_string(c.state)),
               services_text(status.now, c.services, c.enabled && !c.access_disabled),
               std::to_string(c.snapshots),
               c.newest_snapshot ? duration_text(status.now - *c.newest_snapshot) : "never",
               size_text(c), replicas_text(c), audit, join_messages(c.problems)},
              color ? color_of(c.state) : nullptr);
    }
    return t.render();
}

std::string instance_table(const ServerStatus& status, bool color) {
    Table t({"SHARED", "STATE", "SERVICE", "PORT", "CLIENTS", "CERTIFICATE", "PROBLEMS"},
            {false, false, false, true, true, false, false});
    for (const auto& i : status.instances) {
        std::string certificate = "-";
        if (i.certificate_expires) {
            certificate = *i.certificate_expires > status.now
                              ? "expires in " + duration_text(*i.certificate_expires - status.now)
                              : std::string("expired");
        }
        t.add({i.kind, i.ok() ? "ok" : "failing", services_text(status.now, {i.service}, i.enabled),
               std::to_string(i.port), std::to_string(i.clients), certificate,
               join_messages(i.problems)},
              color && !i.ok() ? "\033[31m" : nullptr);
    }
    return t.render();
}

std::string filesystem_table(const ServerStatus& status, bool color) {
    Table t({"FILESYSTEM", "SIZE", "FREE", "GROWTH", "FULL BY", "CLIENTS", "PROBLEMS"},
            {false, true, true, true, false, true, false});
    for (const auto& f : status.filesystems) {
        t.add({f.path, util::format_size(f.size_bytes), util::format_size(f.free_bytes),
               growth_text(f.growth_bytes_per_day),
               f.full_by ? util::format_time(*f.full_by).substr(0, 10) : std::string("-"),
               std::to_string(f.clients.size()), join_messages(f.problems)},
              color && !f.ok() ? "\033[31m" : nullptr);
    }
    return t.render();
}

Json problems_json(const std::vector<Problem>& problems) {
    Json out = Json::array();
    for (const auto& p : problems) {
        out.push_back(
            {{"kind", to_string(p.kind)}, {"subject", p.subject}, {"message", p.message}});
    }
    return out;
}

Json opt(const std::optional<std::int64_t>& v) {
    return v ? Json(*v) : Json(nullptr);
}
Json opt(const std::optional<double>& v) {
    return v ? Json(*v) : Json(nullptr);
}
Json text_or_null(const std::string& s) {
    return s.empty() ? Json(nullptr) : Json(s);
}

Json service_json(const ServiceInfo& s) {
    return {{"name", s.name},
            {"up", s.up()},
            {"supervised", s.supervised},
            {"pid", s.status ? Json(s.status->pid) : Json(nullptr)},
            {"since", s.status ? Json(s.status->since_unix) : Json(nullptr)},
            {"error", text_or_null(s.error)}};
}

Json client_json(const ClientInfo& c) {
    Json services = Json::array();
    for (const auto& s : c.services) {
        services.push_back(service_json(s));
    }
    Json dests = Json::array();
    for (const auto& d : c.destinations) {
        dests.push_back({{"name", d.name},
                         {"state", d.state},
                         {"last_success", opt(d.last_success)},
                         {"missing_snapshots", d.missing_snapshots},
                         {"newest_missing", opt(d.newest_missing)},
                         {"error", text_or_null(d.error)},
                         {"keep_deleted", d.keep_deleted},
                         {"pending_deletions", d.pending_deletions},
                         {"pending_deletion_bytes", d.pending_deletion_bytes},
                         {"next_deletion_due", opt(d.next_deletion_due)},
                         {"deletions_held", text_or_null(d.deletions_held)},
                         {"deletions_frozen", d.deletions_frozen},
                         {"last_deletion", opt(d.last_deletion)}});
    }
    Json audits = Json::array();
    for (const auto& a : c.audits) {
        audits.push_back({{"label", a.label},
                          {"result", a.result},
                          {"mode", a.mode},
                          {"finished", opt(a.finished)},
                          {"findings", a.findings},
                          {"cycle_length", a.cycle_length},
                          {"position", a.position},
                          {"last_full_coverage", opt(a.last_full_coverage)}});
    }
    return {{"host", c.host},
            {"kind", text_or_null(c.kind)},
            {"topology", text_or_null(c.topology)},
            {"state", to_string(c.state)},
            {"ok", c.ok()},
            {"enabled", c.enabled},
            {"access_disabled", c.access_disabled},
            {"initialised", c.initialised},
            {"created", opt(c.created)},
            {"services", services},
            {"snapshots", c.snapshots},
            {"newest_snapshot", opt(c.newest_snapshot)},
            {"expected_interval_hours", c.expected_interval_hours},
            {"stale", c.stale()},
            {"repository", text_or_null(c.repository.string())},
            {"repository_bytes", c.repository_bytes},
            {"remote_repository", text_or_null(c.remote_repository)},
            {"listed", opt(c.listed)},
            {"snapshot_bytes", c.snapshot_bytes},
            {"growth_bytes_per_day", opt(c.growth_bytes_per_day)},
            {"quota_bytes", c.quota ? Json(*c.quota) : Json(nullptr)},
            {"quota_used_bytes", c.quota ? Json(c.quota_used) : Json(nullptr)},
            {"append_only", c.append_only},
            {"tls", c.tls},
            {"certificate_expires", opt(c.certificate_expires)},
            {"last_sync", opt(c.last_sync)},
            {"sync_failures", c.sync_failures},
            {"sync_error", text_or_null(c.sync_error)},
            {"destinations", dests},
            {"audits", audits},
            {"last_audit", opt(c.last_audit())},
            {"audit_findings", c.audit_findings()},
            {"problems", problems_json(c.problems)}};
}

} // namespace

std::string render_status_table(const ServerStatus& status, bool color) {
    std::string out = client_table(status, color);
    if (!status.instances.empty()) {
        out += "\n" + instance_table(status, color);
    }
    if (!status.filesystems.empty()) {
        out += "\n" + filesystem_table(status, color);
    }
    for (const auto& p : status.problems) {
        out += fmt::format("\nproblem: {}", p.message);
    }
    return status.problems.empty() ? out : out + "\n";
}

namespace {

// Everything but the clients, whose array is left empty.
Json status_frame_json(const ServerStatus& status) {
    Json instances = Json::array();
    for (const auto& i : status.instances) {
        instances.push_back({{"kind", i.kind},
                             {"ok", i.ok()},
                             {"enabled", i.enabled},
                             {"service", service_json(i.service)},
                             {"port", i.port},
                             {"clients", i.clients},
                             {"tls", i.tls},
                             {"certificate_expires", opt(i.certificate_expires)},
                             {"problems", problems_json(i.problems)}});
    }
    Json filesystems = Json::array();
    for (const auto& f : status.filesystems) {
        filesystems.push_back({{"path", f.path},
                               {"ok", f.ok()},
                               {"size_bytes", f.size_bytes},
                               {"used_bytes", f.used_bytes},
                               {"free_bytes", f.free_bytes},
                               {"growth_bytes_per_day", opt(f.growth_bytes_per_day)},
                               {"full_by", opt(f.full_by)},
                               {"clients", f.clients},
                               {"problems", problems_json(f.problems)}});
    }
    return {{"schema", k_status_schema},
            {"now", status.now},
            {"root", status.root.string()},
            {"healthy", status.healthy()},
            {"capacity_recorded", status.capacity_recorded},
            {"clients", Json::array()},
            {"instances", instances},
            {"filesystems", filesystems},
            {"problems", problems_json(status.problems)}};
}

// value.dump(2) as it appears depth levels down in an enclosing dump(2): every line after the
// first indented further (a dumped string never holds a raw newline).
void append_dump(std::string& out, const Json& value, int depth) {
    std::string text = value.dump(2, ' ', false, Json::error_handler_t::replace);
    std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    std::size_t start = 0;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
        out.append(text, start, nl + 1 - start);
        out += indent;
        start = nl + 1;
    }
    out.append(text, start);
}

void flush(std::string& out, std::FILE* file) {
    std::fwrite(out.data(), 1, out.size(), file);
    out.clear();
}

} // namespace

Json status_to_json(const ServerStatus& status) {
    Json out = status_frame_json(status);
    Json& clients = out["clients"];
    for (const auto& c : status.clients) {
        clients.push_back(client_json(c));
    }
    return out;
}

void write_status_json(const ServerStatus& status, std::FILE* file) {
    Json frame = status_frame_json(status);
    std::string out = "{";
    const char* separator = "\n";
    for (const auto& [key, value] : frame.items()) {
        out += separator;
        separator = ",\n";
        out += "  " + Json(key).dump() + ": ";
        if (key != "clients" || status.clients.empty()) {
            append_dump(out, value, 1);
            continue;
        }
        out += "[";
        for (std::size_t i = 0; i < status.clients.size(); ++i) {
            out += i == 0 ? "\n    " : ",\n    ";
            append_dump(out, client_json(status.clients[i]), 2);
            flush(out, file);
        }
        out += "\n  ]";
    }
    out += "\n}\n";
    flush(out, file);
}

std::string render_prometheus(const ServerStatus& status) {
    util::PrometheusText out;
    using Value = std::optional<std::int64_t>;
    auto per_client = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& c : status.clients) {
            if (auto value = value_of(c)) {
                out.sample(name, {{"client", c.host}}, static_cast<std::int64_t>(*value));
            }
        }
    };
    auto as_value = [](auto v) { return Value(static_cast<std::int64_t>(v)); };
    out.family("restic_backup_healthy", "gauge", "1 when nothing on the server needs a person.");
    out.sample("restic_backup_healthy", {}, std::int64_t{status.healthy() ? 1 : 0});
    out.family("restic_backup_client_state", "gauge",
               "1 for the client's state (ok, new, disabled, stale, failing, error).");
    for (const auto& c : status.clients) {
        out.sample("restic_backup_client_state",
                   {{"client", c.host}, {"state", to_string(c.state)}}, std::int64_t{1});
    }
    per_client("restic_backup_client_enabled", "1 when the client's link is in the scan dir.",
               [&](const ClientInfo& c) { return as_value(c.enabled && !c.access_disabled); });
    per_client("restic_backup_client_ok", "1 when the client has no problem.",
               [&](const ClientInfo& c) { return as_value(c.ok()); });
    per_client("restic_backup_client_problems", "The client's problems.",
               [&](const ClientInfo& c) { return as_value(c.problems.size()); });
    per_client("restic_backup_stale", "1 when the newest snapshot is older than expected.",
               [&](const ClientInfo& c) { return as_value(c.stale()); });
    per_client("restic_backup_newest_snapshot_timestamp_seconds",
               "Modification time of the newest snapshot file.",
               [](const ClientInfo& c) { return Value(c.newest_snapshot); });
    per_client("restic_backup_snapshots", "Snapshot files in the repository.",
               [&](const ClientInfo& c) { return as_value(c.snapshots); });
    per_client("restic_backup_repository_bytes", "Disk used by the repository.",
               [&](const ClientInfo& c) { return as_value(c.repository_bytes); });
    out.family("restic_backup_service_up", "gauge", "1 when the runit service runs.");
    for (const auto& c : status.clients) {
        for (const auto& s : c.services) {
            out.sample("restic_backup_service_up", {{"client", c.host}, {"service", s.name}},
                       std::int64_t{s.up() ? 1 : 0});
        }
    }
    per_client("restic_backup_sync_failures", "Consecutive failed sync runs.",
               [](const ClientInfo& c) { return Value(c.sync_failures); });
    // Every sample of a family follows its own HELP and TYPE lines, as the format requires.
    auto per_destination = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& c : status.clients) {
            for (const auto& d : c.destinations) {
                out.sample(name, {{"client", c.host}, {"destination", d.name}},
                           static_cast<std::int64_t>(value_of(d)));
            }
        }
    };
    per_destination("restic_backup_destination_ok", "1 when the last replication succeeded.",
                    [](const DestinationInfo& d) { return d.state == "ok" ? 1 : 0; });
    per_destination("restic_backup_destination_missing_snapshots",
                    "Snapshots at the source not yet at the destination.",
                    [](const DestinationInfo& d) { return d.missing_snapshots; });
    per_destination("restic_backup_destination_pending_deletions",
                    "Files deleted from the source that keep_deleted still keeps here.",
                    [](const DestinationInfo& d) { return d.pending_deletions; });
    per_destination("restic_backup_destination_deletions_held",
                    "1 when due deletions wait for restic-replicate --confirm-deletions.",
                    [](const DestinationInfo& d) {
                        return !d.deletions_held.empty() || d.state == "deletion held" ? 1 : 0;
                    });
    per_client("restic_backup_audit_findings", "Findings of the last audits.",
               [](const ClientInfo& c) { return Value(c.audit_findings()); });
    per_client("restic_backup_repository_quota_bytes", "The most the repository may hold.",
               [&](const ClientInfo& c) { return c.quota ? as_value(*c.quota) : Value(); });
    per_client("restic_backup_repository_quota_used_bytes",
               "What the storage server counts against the quota.",
               [&](const ClientInfo& c) { return c.quota ? as_value(c.quota_used) : Value(); });
    per_client("restic_backup_certificate_expiry_timestamp_seconds",
               "When the certificate of the client's own storage server expires.",
               [](const ClientInfo& c) { return Value(c.certificate_expires); });
    out.family("restic_backup_instance_up", "gauge", "1 when the shared instance runs.");
    for (const auto& i : status.instances) {
        out.sample("restic_backup_instance_up", {{"instance", i.kind}},
                   std::int64_t{i.enabled && i.service.up() ? 1 : 0});
    }
    out.family("restic_backup_instance_certificate_expiry_timestamp_seconds", "gauge",
               "When the shared instance's certificate expires.");
    for (const auto& i : status.instances) {
        if (i.certificate_expires) {
            out.sample("restic_backup_instance_certificate_expiry_timestamp_seconds",
                       {{"instance", i.kind}}, *i.certificate_expires);
        }
    }
    auto per_filesystem = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& f : status.filesystems) {
            if (auto value = value_of(f)) {
                out.sample(name, {{"path", f.path}}, *value);
            }
        }
    };
    per_filesystem("restic_backup_filesystem_size_bytes", "Size of a filesystem with repositories.",
                   [&](const FilesystemInfo& f) { return as_value(f.size_bytes); });
    per_filesystem("restic_backup_filesystem_free_bytes", "What is free on it.",
                   [&](const FilesystemInfo& f) { return as_value(f.free_bytes); });
    per_filesystem("restic_backup_filesystem_full_by_timestamp_seconds",
                   "When it fills at the growth of the last 30 days.",
                   [](const FilesystemInfo& f) { return Value(f.full_by); });
    return out.text();
}

} // namespace backup::core
