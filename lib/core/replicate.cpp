#include "core/replicate.hpp"

#include "core/layout.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/spawn.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

using util::ExitCode;
using util::Expected;
using util::Json;

std::string_view to_string(ReplicaState state) {
    switch (state) {
    case ReplicaState::ok:
        return "ok";
    case ReplicaState::incomplete:
        return "incomplete";
    case ReplicaState::failed:
        return "failed";
    }
    return "failed";
}

std::size_t DestinationReport::files_copied() const {
    std::size_t total = 0;
    for (const auto& count : copied) {
        total += count.files;
    }
    return total;
}

std::uint64_t DestinationReport::bytes_copied() const {
    std::uint64_t total = 0;
    for (const auto& count : copied) {
        total += count.bytes;
    }
    return total;
}

ExitCode ReplicateReport::exit_code() const {
    if (error) {
        return error->code();
    }
    ExitCode code = ExitCode::ok;
    if (!destinations.empty()) {
        std::size_t failed = 0;
        bool all_permanent = true;
        bool partial = !corrupt.empty() || !unreadable.empty();
        for (const auto& d : destinations) {
            if (d.state == ReplicaState::failed) {
                ++failed;
                all_permanent = all_permanent && d.error && d.error->code() == ExitCode::permanent;
            } else if (d.state == ReplicaState::incomplete) {
                partial = true;
            }
        }
        if (failed == destinations.size()) {
            code = all_permanent ? ExitCode::permanent : ExitCode::temporary;
        } else if (failed > 0 || partial) {
            code = ExitCode::findings;
        }
    }
    if (status_error && code == ExitCode::ok) {
        code = ExitCode::temporary;
    }
    return code;
}

namespace {

Json optional_string(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

} // namespace

Json ReplicateReport::to_json() const {
    Json dests = Json::array();
    for (const auto& d : destinations) {
        Json copied_json = Json::object();
        for (auto phase : k_replicate_phases) {
            const auto& count = d.copied[phase_index(phase)];
            copied_json[std::string(to_string(phase))] = {{"files", count.files},
                                                          {"bytes", count.bytes}};
        }
        Json newest = nullptr;
        if (d.newest_missing_snapshot) {
            newest = {{"id", d.newest_missing_snapshot->id},
                      {"time", replicate_time_string(d.newest_missing_snapshot->time)}};
        }
        dests.push_back({
            {"name", d.name},
            {"kind", d.kind},
            {"target", d.target},
            {"state", to_string(d.state)},
            {"error", d.error ? Json(d.error->message()) : Json(nullptr)},
            {"error_code", d.error ? Json(static_cast<int>(d.error->code())) : Json(nullptr)},
            {"listed", d.listed_because ? Json(*d.listed_because) : Json(nullptr)},
            {"copied", std::move(copied_json)},
            {"files_copied", d.files_copied()},
            {"bytes_copied", d.bytes_copied()},
            {"already_there", d.already_there},
            {"vanished", d.vanished},
            {"not_sent", d.refused},
            {"differing", d.differing},
            {"missing_files", d.missing_files},
            {"missing_snapshots", d.missing_snapshots},
            {"newest_missing_snapshot", std::move(newest)},
            {"last_attempt", d.last_attempt},
            {"last_success", optional_string(d.last_success)},
        });
    }
    return Json{
        {"schema", k_replicate_status_schema},
        {"client", client.empty() ? Json(nullptr) : Json(client)},
        {"source", source},
        {"started", started},
        {"finished", finished},
        {"duration_seconds", duration_seconds},
        {"exit_code", static_cast<int>(exit_code())},
        {"source_files", source_files},
        {"source_snapshots", source_snapshots},
        {"corrupt_files", corrupt},
        {"unreadable_files", unreadable},
        {"destinations", std::move(dests)},
    };
}

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_seconds() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::string name_of(std::string_view relative) {
    auto slash = relative.rfind('/');
    return std::string(slash == std::string_view::npos ? relative : relative.substr(slash + 1));
}

// An exclusive lock held for as long as the Fd lives.
Expected<util::Fd> take_lock(const std::string& path, std::string_view holder) {
    auto fd = util::open_fd(path, O_RDWR | O_CREAT, 0600);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return util::fail(ExitCode::temporary, "lock {}: {}", path, holder);
        }
        return util::fail_errno(errno, fmt::format("lock {}", path));
    }
    return std::move(*fd);
}

// What one run shares between its destinations.
struct RunContext {
    const ReplicateJob& job;
    const ReplicateOptions& options;
    const SourceRepository& source;
    SourceVerifier& verifier;
    ReplicateReport& report;
    std::set<std::string> reported; // source problems already reported (once per run)
    std::map<std::string, std::string> previous_success; // name -> last success
    std::string now;

    void log(LogLevel level, std::string_view line) const {
        if (options.log) {
            options.log(level, line);
        }
    }

    // Reports each corrupt or unreadable source file once per run.
    void report_refused(const std::vector<std::string>& refused) {
        for (const auto& relative : refused) {
            if (!reported.insert(relative).second) {
                continue;
            }
            const auto* state = verifier.find(relative);
            bool corrupt = state && state->check == SourceCheck::corrupt;
            (corrupt ? report.corrupt : report.unreadable).push_back(relative);
            log(LogLevel::error,
                fmt::format("unable to replicate {}: {}; it is not sent to any destination",
                            relative, state ? state->reason : std::string("it could not be read")));
        }
    }
};

std::string describe_count(const CopyOutcome& outcome) {
    std::string text = fmt::format("copied {} file{}, {} bytes", outcome.sent,
                                   outcome.sent == 1 ? "" : "s", outcome.bytes);
    if (outcome.already_there > 0) {
        text += fmt::format(", {} already there", outcome.already_there);
    }
    if (!outcome.vanished.empty()) {
        text += fmt::format(", {} vanished from the source (skipped)", outcome.vanished.size());
    }
    if (!outcome.refused.empty()) {
        text += fmt::format(", {} not sent (corrupt or unreadable at the source)",
                            outcome.refused.size());
    }
    return text;
}

bool source_has(const SourceRepository& source, ReplicatePhase phase, const std::string& id) {
    const auto& ids = source.ids[phase_index(phase)];
    return std::binary_search(ids.begin(), ids.end(), id);
}

// Runs one destination; never throws for what it finds.
DestinationReport run_destination(RunContext& ctx, const ReplicaTarget& target) {
    auto started = Clock::now();
    const Destination& dest = target.destination;
    const SourceRepository& source = ctx.source;
    auto store = make_replica_store(dest, source, ctx.options.rclone);

    DestinationReport rep;
    rep.name = dest.name;
    rep.label = target.label;
    rep.kind = std::string(store->kind());
    rep.target = store->target();
    rep.last_attempt = ctx.now;
    if (auto it = ctx.previous_success.find(dest.name); it != ctx.previous_success.end()) {
        rep.last_success = it->second;
    }
    // What the destination holds, as far as this run knows: the ledger the run will write.
    ReplicaLedger next;
    next.name = dest.name;
    next.kind = rep.kind;
    next.target = rep.target;
    auto& present = next.ids;
    bool has_config = false;
    bool refused_config = false;

    auto fail = [&](const util::Error& error) {
        rep.state = ReplicaState::failed;
        rep.error = util::Error(error.code(), fmt::format("unable to replicate to {}: {}",
                                                          target.label, error.message()));
        ctx.log(LogLevel::error, rep.error->message());
    };
    auto finish = [&]() -> DestinationReport {
        for (auto phase : k_replicate_phases) {
            if (phase == ReplicatePhase::config) {
                rep.missing_files += has_config ? 0 : 1;
                continue;
            }
            for (const auto& id : source.ids[phase_index(phase)]) {
                if (refused_config || !present[phase_index(phase)].contains(id)) {
                    // Gone from the source during the run: nothing is missing any more.
                    const auto* known = ctx.verifier.find(replica_path(phase, id));
                    if (known && known->check == SourceCheck::vanished) {
                        continue;
                    }
                    ++rep.missing_files;
                    if (phase == ReplicatePhase::snapshots) {
                        ++rep.missing_snapshots;
                        std::int64_t time = source.snapshot_time(id);
                        if (!rep.newest_missing_snapshot ||
                            time > rep.newest_missing_snapshot->time) {
                            rep.newest_missing_snapshot = SnapshotRef{id, time};
                        }
                    }
                }
            }
        }
        if (rep.state != ReplicaState::failed && (rep.refused > 0 || rep.differing > 0)) {
            rep.state = ReplicaState::incomplete;
        }
        if (rep.state == ReplicaState::ok) {
            rep.last_success = ctx.now;
        }
        double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        std::string behind;
        if (rep.missing_snapshots > 0 && rep.newest_missing_snapshot) {
            behind = fmt::format("; {} snapshot{} missing, the newest {} (arrived {})",
                                 rep.missing_snapshots, rep.missing_snapshots == 1 ? "" : "s",
                                 rep.newest_missing_snapshot->id.substr(0, 8),
                                 replicate_time_string(rep.newest_missing_snapshot->time));
        }
        ctx.log(LogLevel::info,
                fmt::format("{}: {}: copied {} files, {} bytes in {:.1f} s; {} source files not "
                            "there{}",
                            target.label, to_string(rep.state), rep.files_copied(),
                            rep.bytes_copied(), seconds, rep.missing_files, behind));
        return rep;
    };

    // Where its ledger is, and whether it must be listed.
    std::optional<std::string> ledger_path;
    std::optional<std::string> marker_path;
    std::optional<ReplicaLedger> ledger;
    std::string list_reason;
    if (ctx.job.state_dir) {
        fs::path dir = *ctx.job.state_dir / std::string(k_replicate_state_subdir);
        ledger_path = (dir / (dest.name + ".json")).string();
        if (dest.is_local()) {
            marker_path = (dir / (dest.name + ".interrupted")).string();
        }
        auto read = read_replica_ledger(*ledger_path);
        if (!read) {
            ctx.log(LogLevel::warning, fmt::format("{}: {}; listing the destination instead",
                                                   target.label, read.error().message()));
            list_reason = "its ledger is unreadable";
        } else if (!*read) {
            list_reason = "no ledger yet";
        } else if ((*read)->target != rep.target || (*read)->kind != rep.kind) {
            list_reason = fmt::format("its ledger is for {} {}", (*read)->kind, (*read)->target);
        } else {
            ledger = std::move(**read);
            present = ledger->ids;
        }
        struct stat st {};
        if (marker_path && ::lstat(marker_path->c_str(), &st) == 0) {
            list_reason = "its last run was interrupted";
        }
    } else {
        list_reason = "no state directory";
    }
    if (ctx.job.reconcile) {
        list_reason = "--reconcile";
    }

    if (auto opened = store->open(); !opened) {
        fail(opened.error());
        return finish();
    }
    auto config = store->read_config();
    if (!config) {
        fail(config.error());
        return finish();
    }
    if (*config && **config != *source.config) {
        refused_config = true;
        fail(util::Error(ExitCode::permanent,
                         fmt::format("it holds a different config ({} bytes, SHA-256 {}): it is "
                                     "another repository; nothing was written there",
                                     (*config)->size(), util::sha256_hex(**config))));
        return finish();
    }
    has_config = config->has_value();
    if (ledger && ledger->config_sha256 && !has_config && list_reason.empty()) {
        // It had a config when the ledger was written: emptied or replaced behind our back.
        list_reason = "its config is gone";
    }

    // From here on the destination may be written to.
    if (marker_path) {
        if (auto marked = util::atomic_write(*marker_path, "", 0600); !marked) {
            fail(marked.error());
            return finish();
        }
    }
    std::string config_sha = util::sha256_hex(*source.config);
    if (has_config) {
        next.config_sha256 = config_sha;
    }
    std::set<std::string> differing;
    bool ledger_dirty = false;
    if (!list_reason.empty()) {
        rep.listed_because = list_reason;
        auto listing = store->list();
        if (!listing) {
            fail(listing.error()); // the marker stays: temporary files may be left
            return finish();
        }
        std::array<std::set<std::string>, k_replicate_phase_count> listed;
        for (const auto& file : listing->files) {
            auto phase = replicate_phase(classify_repository_path(file.relative));
            if (!phase || *phase == ReplicatePhase::config) {
                continue;
            }
            std::string id = name_of(file.relative);
            if (source_has(source, *phase, id)) {
                struct stat st {};
                std::string source_path = (fs::path(source.root) / file.relative).string();
                if (::stat(source_path.c_str(), &st) == 0 &&
                    static_cast<std::uint64_t>(st.st_size) != file.size) {
                    differing.insert(file.relative);
                    ctx.log(LogLevel::error,
                            fmt::format("unable to replicate {} to {}: the destination holds it "
                                        "with {} bytes, the source with {}; it is never "
                                        "overwritten (check it, and remove it by hand)",
                                        file.relative, target.label, file.size, st.st_size));
                    continue;
                }
            }
            listed[phase_index(*phase)].insert(std::move(id));
        }
        rep.differing = differing.size();
        rep.listed_files = listing->files.size();
        rep.removed_temporaries = listing->removed_temporaries;
        std::string repaired;
        if (ledger) {
            std::size_t added = 0;
            std::size_t dropped = 0;
            for (auto phase : k_replicate_phases) {
                const auto& old_ids = ledger->ids[phase_index(phase)];
                const auto& new_ids = listed[phase_index(phase)];
                for (const auto& id : new_ids) {
                    added += old_ids.contains(id) ? 0 : 1;
                }
                for (const auto& id : old_ids) {
                    dropped += new_ids.contains(id) ? 0 : 1;
                }
            }
            repaired = fmt::format("; ledger repaired: {} added, {} dropped", added, dropped);
        }
        ctx.log(LogLevel::info,
                fmt::format(
                    "{}: listed the destination ({}): {} repository files{}{}", target.label,
                    list_reason, rep.listed_files,
                    rep.removed_temporaries > 0
                        ? fmt::format(", removed {} stale temporary files", rep.removed_temporaries)
                        : std::string(),
                    repaired));
        present = std::move(listed);
        ledger_dirty = true;
    } else if (ledger && ledger->config_sha256 != next.config_sha256) {
        ledger_dirty = true;
    }

    auto save_ledger = [&]() -> bool {
        if (!ledger_path) {
            return true;
        }
        if (auto written = write_replica_ledger(*ledger_path, next); !written) {
            fail(written.error());
            return false;
        }
        return true;
    };
    if (ledger_dirty && !save_ledger()) {
        return finish();
    }

    for (auto phase : k_replicate_phases) {
        std::vector<std::string> todo;
        if (phase == ReplicatePhase::config) {
            if (has_config) {
                continue;
            }
            todo.push_back("config");
        } else {
            for (const auto& id : source.ids[phase_index(phase)]) {
                std::string relative = replica_path(phase, id);
                if (!present[phase_index(phase)].contains(id) && !differing.contains(relative)) {
                    todo.push_back(std::move(relative));
                }
            }
        }
        if (todo.empty()) {
            continue;
        }
        CopyHook hook;
        if (ctx.options.before_copy) {
            hook = [&](std::string_view relative) {
                ctx.options.before_copy(dest.name, phase, relative);
            };
        }
        CopyOutcome outcome = store->copy(phase, todo, ctx.verifier, hook);
        auto& count = rep.copied[phase_index(phase)];
        count.files += outcome.sent;
        count.bytes += outcome.bytes;
        rep.already_there += outcome.already_there;
        rep.vanished += outcome.vanished.size();
        rep.refused += outcome.refused.size();
        ctx.report_refused(outcome.refused);
        for (const auto& relative : outcome.present) {
            if (phase == ReplicatePhase::config) {
                has_config = true;
                next.config_sha256 = config_sha;
            } else {
                present[phase_index(phase)].insert(name_of(relative));
            }
        }
        ctx.log(LogLevel::info,
                fmt::format("{}: {}: {}", target.label, to_string(phase), describe_count(outcome)));
        if (!outcome.present.empty()) {
            if (!save_ledger()) {
                break;
            }
        }
        if (outcome.error) {
            fail(*outcome.error);
            break;
        }
    }
    // Every temporary file of this run is gone (each copy removes its own on every path).
    if (marker_path) {
        ::unlink(marker_path->c_str());
    }
    return finish();
}

// The last success of each destination, from the previous status file.
std::map<std::string, std::string> previous_successes(const std::string& status_path,
                                                      const RunContext& ctx) {
    std::map<std::string, std::string> out;
    struct stat st {};
    if (::stat(status_path.c_str(), &st) != 0) {
        return out;
    }
    auto json = util::read_json_file(status_path);
    if (!json) {
        ctx.log(LogLevel::warning,
                fmt::format("{}; the last successes are not carried over", json.error().message()));
        return out;
    }
    auto dests = json->find("destinations");
    if (dests == json->end() || !dests->is_array()) {
        return out;
    }
    for (const auto& d : *dests) {
        if (!d.is_object()) {
            continue;
        }
        auto name = d.find("name");
        auto success = d.find("last_success");
        if (name != d.end() && name->is_string() && success != d.end() && success->is_string()) {
            out.emplace(name->get<std::string>(), success->get<std::string>());
        }
    }
    return out;
}

} // namespace

ReplicateReport replicate(const ReplicateJob& job, const ReplicateOptions& options) {
    auto started = Clock::now();
    ReplicateReport report;
    report.source = job.source;
    report.client = job.client;
    report.started = replicate_time_string(now_seconds());
    auto log = [&](LogLevel level, std::string_view line) {
        if (options.log) {
            options.log(level, line);
        }
    };
    auto finish_times = [&] {
        report.finished = replicate_time_string(now_seconds());
        report.duration_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    };

    util::Fd lock;
    std::string status_path;
    if (job.state_dir) {
        fs::path dir = *job.state_dir / std::string(k_replicate_state_subdir);
        if (auto made = util::make_directories(dir.string(), 0700); !made) {
            report.error = made.error();
            finish_times();
            return report;
        }
        auto locked = take_lock(
            (dir / "lock").string(),
            job.client.empty() ? "another restic-replicate uses this state directory"
                               : fmt::format("another restic-replicate runs for {}", job.client));
        if (!locked) {
            report.error = locked.error();
            finish_times();
            return report;
        }
        lock = std::move(*locked);
        status_path = (*job.state_dir / std::string(k_replicate_status_file)).string();
    }

    auto source = list_source_repository(job.source);
    if (!source) {
        report.error = source.error();
        finish_times();
        return report;
    }
    if (!source->config) {
        report.error = util::Error(ExitCode::permanent,
                                   fmt::format("unable to replicate {}: not a restic repository "
                                               "(it has no config)",
                                               job.source));
        finish_times();
        return report;
    }
    report.source_files = source->file_count();
    report.source_snapshots = source->ids[phase_index(ReplicatePhase::snapshots)].size();

    SourceVerifier verifier(source->root);
    RunContext ctx{job, options, *source, verifier, report, {}, {}, report.started};
    if (!status_path.empty()) {
        ctx.previous_success = previous_successes(status_path, ctx);
    }
    log(LogLevel::info,
        fmt::format("replicating {}{}: {} repository files, {} snapshots, to {} destination{}",
                    job.source, job.client.empty() ? "" : fmt::format(" ({})", job.client),
                    report.source_files, report.source_snapshots, job.destinations.size(),
                    job.destinations.size() == 1 ? "" : "s"));
    for (const auto& target : job.destinations) {
        try {
            report.destinations.push_back(run_destination(ctx, target));
        } catch (const std::exception& e) {
            // One destination's unexpected failure (out of memory, a crypto library error) must
            // not keep the others from being brought up to date.
            DestinationReport rep;
            rep.name = target.destination.name;
            rep.label = target.label;
            rep.kind = target.destination.is_local() ? "local" : "rclone";
            rep.target = target.destination.is_local() ? target.destination.path.string()
                                                       : target.destination.remote;
            rep.state = ReplicaState::failed;
            rep.error =
                util::Error(ExitCode::temporary,
                            fmt::format("unable to replicate to {}: {}", target.label, e.what()));
            rep.last_attempt = ctx.now;
            if (auto it = ctx.previous_success.find(rep.name); it != ctx.previous_success.end()) {
                rep.last_success = it->second;
            }
            log(LogLevel::error, rep.error->message());
            report.destinations.push_back(std::move(rep));
        }
    }
    if (job.destinations.empty()) {
        log(LogLevel::warning, "no destinations: nothing was replicated");
    }
    finish_times();
    if (!status_path.empty()) {
        if (auto written = util::write_json_file(status_path, report.to_json(), 0644); !written) {
            report.status_error = written.error();
            log(LogLevel::error, written.error().message());
        } else {
            report.status_file = status_path;
        }
    }
    return report;
}

// --- the command -----------------------------------------------------------------------------

Expected<Destination> parse_destination_argument(std::string_view text) {
    Destination d;
    std::string target(text);
    if (text.starts_with('/')) {
        d.path = fs::path(target).lexically_normal();
        if (d.path.string().size() > 1 && d.path.string().back() == '/') {
            d.path = d.path.parent_path();
        }
        target = d.path.string();
    } else if (auto colon = text.find(':'); colon != std::string_view::npos && colon > 0) {
        d.remote = target;
    } else {
        return util::fail(ExitCode::permanent,
                          "use destination '{}': give an absolute path or an rclone remote "
                          "NAME:PATH",
                          text);
    }
    std::string slug;
    for (char c : target) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c >= 'A' && c <= 'Z') {
            slug += static_cast<char>(c - 'A' + 'a');
        } else if (alnum) {
            slug += c;
        } else if (!slug.empty() && slug.back() != '-') {
            slug += '-';
        }
    }
    while (!slug.empty() && slug.back() == '-') {
        slug.pop_back();
    }
    slug = slug.substr(0, 23);
    while (!slug.empty() && slug.back() == '-') {
        slug.pop_back();
    }
    std::string hash = util::sha256_hex(target).substr(0, 8);
    d.name = slug.empty() ? hash : fmt::format("{}-{}", slug, hash);
    if (auto ok = validate_destination(d); !ok) {
        return std::unexpected(ok.error());
    }
    return d;
}

Expected<std::vector<std::string>> read_snapshot_id_file(const std::string& path) {
    auto text = util::read_file(path);
    if (!text) {
        return std::unexpected(text.error());
    }
    std::vector<std::string> ids;
    std::size_t start = 0;
    while (start < text->size()) {
        auto end = text->find('\0', start);
        if (end == std::string::npos) {
            return util::fail(ExitCode::permanent, "read {}: the last entry has no NUL byte", path);
        }
        std::string id = text->substr(start, end - start);
        if (!is_repository_id(id)) {
            return util::fail(ExitCode::permanent, "read {}: entry {} is not a snapshot id", path,
                              ids.size() + 1);
        }
        ids.push_back(std::move(id));
        start = end + 1;
    }
    return ids;
}

namespace {

void print_line(std::FILE* stream, const std::string& text) {
    std::fputs(text.c_str(), stream);
    std::fflush(stream);
}

std::string short_ids(const std::vector<std::string>& ids) {
    std::string out;
    for (std::size_t i = 0; i < ids.size() && i < 5; ++i) {
        out += (i == 0 ? "" : " ") + ids[i].substr(0, 8);
    }
    if (ids.size() > 5) {
        out += " ...";
    }
    return out;
}

} // namespace

util::ExitCode replicate_command(const ReplicateCommand& command, std::string_view prog) {
    std::string program(prog);
    ReplicateOptions options;
    options.log = [&](LogLevel level, std::string_view line) {
        switch (level) {
        case LogLevel::info:
            print_line(stdout, fmt::format("{}: {}\n", program, line));
            break;
        case LogLevel::warning:
            util::print_warning(program, line);
            break;
        case LogLevel::error:
            util::print_error(program, util::Error(ExitCode::findings, std::string(line)));
            break;
        }
    };
    options.rclone.env = util::current_environment();

    ReplicateJob job;
    job.reconcile = command.reconcile;
    if (!command.client.empty()) {
        util::value_or_throw(validate_host_name(command.client));
        if (!command.state_dir.empty()) {
            throw util::Fatal(util::Error(
                ExitCode::permanent, "unable to use --state-dir with --client: a client's state "
                                     "is in ROOT/systems/HOST/state"));
        }
        if (command.arguments.size() != 0 && command.arguments.size() != 2) {
            throw util::Fatal(util::Error(ExitCode::permanent,
                                          "unable to parse arguments: with --client, give no "
                                          "arguments or backup-syncd's APPEARED_FILE GONE_FILE"));
        }
        ClientPaths paths = ServerLayout(command.root).client(command.client);
        struct stat st {};
        if (::stat(paths.config_file.c_str(), &st) != 0 && errno == ENOENT) {
            throw util::Fatal(util::Error(
                ExitCode::permanent,
                fmt::format("unable to read {}: no such file (is {} provisioned on this server?)",
                            paths.config_file.string(), command.client)));
        }
        auto config = util::value_or_throw(load_client_config(paths.config_file.string()));
        if (config.host != command.client) {
            throw util::Fatal(util::Error(
                ExitCode::permanent,
                fmt::format("unable to use {}: it is the configuration of {}, not of {}",
                            paths.config_file.string(), config.host, command.client)));
        }
        job.source = config.repository.string();
        job.client = command.client;
        job.state_dir = paths.state;
        for (const auto& d : config.destinations) {
            job.destinations.push_back({d, d.name});
        }
        if (command.arguments.size() == 2) {
            // backup-syncd says what changed; the run brings everything up to date anyway.
            auto appeared = read_snapshot_id_file(command.arguments[0]);
            auto gone = read_snapshot_id_file(command.arguments[1]);
            if (appeared && gone) {
                options.log(LogLevel::info,
                            fmt::format("sync request: {} snapshot{} appeared{}, {} went{}",
                                        appeared->size(), appeared->size() == 1 ? "" : "s",
                                        appeared->empty() ? "" : " (" + short_ids(*appeared) + ")",
                                        gone->size(),
                                        gone->empty() ? "" : " (" + short_ids(*gone) + ")"));
            } else {
                options.log(LogLevel::warning,
                            fmt::format("{}; replicating the whole repository anyway",
                                        (appeared ? gone.error() : appeared.error()).message()));
            }
        }
    } else {
        if (command.arguments.size() < 2) {
            throw util::Fatal(util::Error(
                ExitCode::permanent,
                "unable to parse arguments: give --client HOST, or SOURCE_DIR and at least one "
                "DEST"));
        }
        std::error_code ec;
        job.source = fs::absolute(command.arguments[0], ec).lexically_normal().string();
        if (job.source.size() > 1 && job.source.back() == '/') {
            job.source.pop_back();
        }
        std::set<std::string> names;
        std::vector<std::string> problems;
        for (std::size_t i = 1; i < command.arguments.size(); ++i) {
            auto d = parse_destination_argument(command.arguments[i]);
            if (!d) {
                problems.push_back(d.error().message());
                continue;
            }
            if (!names.insert(d->name).second) {
                problems.push_back(
                    fmt::format("use destination '{}': given twice", command.arguments[i]));
                continue;
            }
            std::string label = d->is_local() ? d->path.string() : d->remote;
            job.destinations.push_back({std::move(*d), std::move(label)});
        }
        if (!problems.empty()) {
            throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
        }
        if (!command.state_dir.empty()) {
            job.state_dir = fs::absolute(command.state_dir, ec);
        }
    }

    auto report = replicate(job, options);
    if (report.error) {
        throw util::Fatal(*report.error);
    }
    return report.exit_code();
}

} // namespace backup::core
