#include "replicate/replicate.hpp"

#include "replicate/destination_run.hpp"
#include "replicate/remote_source.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/time.hpp"

#include <chrono>
#include <exception>
#include <map>

namespace backup::core {

using util::ExitCode;
using util::Expected;

std::string_view to_string(ReplicaState state) {
    switch (state) {
    case ReplicaState::ok:
        return "ok";
    case ReplicaState::incomplete:
        return "incomplete";
    case ReplicaState::deletion_held:
        return "deletion held";
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
            } else if (d.state == ReplicaState::incomplete ||
                       d.state == ReplicaState::deletion_held) {
                partial = true;
            }
        }
        if (failed == destinations.size()) {
            code = all_permanent ? ExitCode::permanent : ExitCode::temporary;
        } else if (failed > 0 || partial) {
            code = ExitCode::findings;
        }
    }
    if (!unlisted.empty() && (code == ExitCode::ok || code == ExitCode::findings)) {
        code = ExitCode::temporary; // a read that may work next time
    }
    if (status_error && code == ExitCode::ok) {
        code = ExitCode::temporary;
    }
    return code;
}

ReplicateStatus ReplicateReport::to_status() const {
    ReplicateStatus s;
    s.client = client.empty() ? std::nullopt : std::optional<std::string>(client);
    s.source = source;
    s.started = started;
    s.finished = finished;
    s.duration_seconds = duration_seconds;
    s.exit_code = static_cast<int>(exit_code());
    s.source_files = source_files;
    s.source_snapshots = source_snapshots;
    s.corrupt_files = corrupt;
    s.unreadable_files = unreadable;
    for (const auto& d : destinations) {
        DestinationStatus ds;
        ds.name = d.name;
        ds.kind = d.kind;
        ds.target = d.target;
        ds.state = std::string(to_string(d.state));
        if (d.error) {
            ds.error = d.error->message();
            ds.error_code = static_cast<int>(d.error->code());
        }
        ds.listed = d.listed_because;
        ds.copied = d.copied;
        ds.already_there = d.already_there;
        ds.vanished = d.vanished;
        ds.not_sent = d.refused;
        ds.differing = d.differing;
        ds.missing_files = d.missing_files;
        ds.missing_snapshots = d.missing_snapshots;
        if (d.newest_missing_snapshot) {
            ds.newest_missing_snapshot = MissingSnapshot{
                d.newest_missing_snapshot->id, util::format_time(d.newest_missing_snapshot->time)};
        }
        ds.last_attempt = d.last_attempt;
        ds.last_success = d.last_success;
        RetentionStatus rs;
        rs.keep_deleted = format_keep_deleted(d.keep_deleted);
        rs.deleted = d.deleted;
        rs.pending_files = d.pending_deletions;
        rs.pending_bytes = d.pending_deletion_bytes;
        if (d.next_deletion_due) {
            rs.next_due = util::format_time(*d.next_deletion_due);
        }
        rs.held = d.held_because;
        rs.frozen = d.frozen;
        rs.last_deletion = d.last_deletion;
        ds.retention = std::move(rs);
        s.destinations.push_back(std::move(ds));
    }
    return s;
}

namespace {

using Clock = std::chrono::steady_clock;

// The last success and last deletion of each destination, from the previous status file.
void carry_over(const fs::path& state_dir, RunContext& ctx) {
    auto status = read_replicate_status(state_dir);
    if (!status) {
        ctx.log(LogLevel::warning,
                fmt::format("{}; the last successes and deletions are not carried over",
                            status.error().message()));
        return;
    }
    if (*status) {
        for (const auto& d : (*status)->destinations) {
            if (d.last_success) {
                ctx.previous_success.emplace(d.name, *d.last_success);
            }
            if (d.retention && d.retention->last_deletion) {
                ctx.previous_deletion.emplace(d.name, *d.retention->last_deletion);
            }
        }
    }
}

// The report of a destination whose run threw: one destination's unexpected failure (out of
// memory, a crypto library error) must not keep the others from being brought up to date.
DestinationReport failed_destination(const RunContext& ctx, const ReplicaTarget& target,
                                     const std::exception& e) {
    DestinationReport rep;
    rep.name = target.destination.name;
    rep.label = target.label;
    rep.kind = target.destination.is_local() ? "local" : "rclone";
    rep.target = target.destination.is_local() ? target.destination.path.string()
                                               : target.destination.remote;
    rep.state = ReplicaState::failed;
    rep.keep_deleted = target.destination.keep_deleted;
    rep.error = util::Error(ExitCode::temporary,
                            fmt::format("unable to replicate to {}: {}", target.label, e.what()));
    rep.last_attempt = ctx.now;
    if (auto it = ctx.previous_success.find(rep.name); it != ctx.previous_success.end()) {
        rep.last_success = it->second;
    }
    ctx.log(LogLevel::error, rep.error->message());
    return rep;
}

// One run at a time per state directory; nullopt without one.
Expected<std::optional<util::FileLock>> lock_state(const ReplicateJob& job) {
    if (!job.state_dir) {
        return std::optional<util::FileLock>();
    }
    fs::path dir = *job.state_dir / std::string(k_replicate_state_subdir);
    TRY(util::make_directories(dir.string(), 0700));
    std::string path = (dir / "lock").string();
    return std::optional<util::FileLock>(TRY(util::FileLock::try_acquire_or_fail(
        path, 0600, fmt::format("lock {}", path),
        job.client.empty() ? "another restic-replicate uses this state directory"
                           : fmt::format("another restic-replicate runs for {}", job.client))));
}

// A remote primary, listed through its own rclone daemon (its credentials are not the
// destinations').
Expected<SourceRepository> list_remote_source(const ReplicateJob& job,
                                              const ReplicateOptions& options) {
    RcloneSettings rclone = options.rclone;
    if (!job.source_rclone_config.empty()) {
        rclone.env["RCLONE_CONFIG"] = job.source_rclone_config;
    }
    auto remote = TRY(RemoteSource::open(job.source, rclone));
    SourceRepository source = TRY(remote->list());
    source.remote = std::move(remote);
    return source;
}

// A local source, listed with the last run's memory of its pack directories when there is a
// state directory (state/source_listing.hpp); --reconcile reads every one. The memory is only a
// shortcut: one that cannot be read or written costs this run or the next a whole listing.
Expected<SourceRepository> list_local_source(const ReplicateJob& job,
                                             const ReplicateOptions& options) {
    if (!job.state_dir) {
        return list_source_repository(job.source);
    }
    auto log = [&](LogLevel level, std::string_view line) {
        if (options.log) {
            options.log(level, line);
        }
    };
    std::string path = source_listing_path(job.state_dir->string());
    ListingMemory memory;
    if (!job.reconcile) {
        auto previous = read_source_listing(path);
        if (!previous) {
            log(LogLevel::warning,
                fmt::format("{}; every pack directory is read", previous.error().message()));
        } else {
            memory.previous = std::move(*previous);
        }
    }
    SourceRepository source = TRY(list_source_repository(job.source, &memory));
    log(LogLevel::info, fmt::format("{}: read {} pack directories, {} unchanged since the last "
                                    "listing",
                                    job.source, memory.read, memory.reused));
    if (memory.changed) {
        // The ids are the listing's: lent to the writer, not copied.
        auto& ids = source.ids[phase_index(ReplicatePhase::data)];
        memory.next.ids = std::move(ids);
        auto written = write_source_listing(path, memory.next);
        ids = std::move(memory.next.ids);
        if (!written) {
            log(LogLevel::warning,
                fmt::format("{}; the next run reads the pack directories this one read",
                            written.error().message()));
        }
    }
    return source;
}

Expected<SourceRepository> open_source(const ReplicateJob& job, const ReplicateOptions& options) {
    SourceRepository source = TRY(job.source_is_remote ? list_remote_source(job, options)
                                                       : list_local_source(job, options));
    if (!source.config) {
        return util::fail(ExitCode::permanent,
                          "replicate {}: not a restic repository (it has no config)", job.source);
    }
    return source;
}

void replicate_to_all(RunContext& ctx) {
    const ReplicateJob& job = ctx.job;
    ctx.log(LogLevel::info,
            fmt::format("replicating {}{}: {} repository files, {} snapshots, to {} destination{}",
                        job.source, job.client.empty() ? "" : fmt::format(" ({})", job.client),
                        ctx.report.source_files, ctx.report.source_snapshots,
                        job.destinations.size(), job.destinations.size() == 1 ? "" : "s"));
    for (const auto& target : job.destinations) {
        try {
            ctx.report.destinations.push_back(DestinationRun(ctx, target).run());
        } catch (const std::exception& e) {
            ctx.report.destinations.push_back(failed_destination(ctx, target, e));
        }
    }
    if (job.destinations.empty()) {
        ctx.log(LogLevel::warning, "no destinations: nothing was replicated");
    }
}

} // namespace

ReplicateReport replicate(const ReplicateJob& job, const ReplicateOptions& options) {
    auto started = Clock::now();
    ReplicateReport report;
    report.source = job.source;
    report.client = job.client;
    std::int64_t clock = options.now.value_or(util::unix_now());
    // The times a run records follow its clock; only the ledgers' "updated" stays real.
    util::SystemTime start_time = options.now ? util::from_unix(*options.now) : util::now();
    report.started = util::format_time(start_time);
    auto finish_times = [&] {
        auto elapsed = Clock::now() - started;
        report.finished = util::format_time(
            start_time + std::chrono::duration_cast<util::SystemTime::duration>(elapsed));
        report.duration_seconds = std::chrono::duration<double>(elapsed).count();
    };
    auto lock = lock_state(job);
    // rclone takes 60 to 150 ms to start, about as long as listing a large source: it starts
    // now, and each rclone destination's store waits for its daemon only when it opens.
    std::map<std::string, std::unique_ptr<util::RcloneDaemon>> spawned;
    if (lock) {
        for (const auto& target : job.destinations) {
            if (!target.destination.is_local()) {
                spawned[target.destination.name] = spawn_rclone_daemon(options.rclone);
            }
        }
    }
    auto source = lock ? open_source(job, options) : std::unexpected(lock.error());
    if (!source) {
        report.error = source.error();
        finish_times();
        return report;
    }
    for (const auto& [relative, error] : source->unlisted) {
        // Nothing of it is copied; the rest is. Reported with the unreadable files.
        report.unlisted.push_back(relative + "/");
        report.unreadable.push_back(relative + "/");
        if (options.log) {
            options.log(LogLevel::error,
                        fmt::format("{}; its files are not replicated this run", error.message()));
        }
    }
    report.source_files = source->file_count();
    report.source_snapshots = source->ids[phase_index(ReplicatePhase::snapshots)].size();
    SourceVerifier verifier(source->root, source->remote);
    RunContext ctx{job,   options, *source, verifier,          report, {}, {}, report.started, {},
                   clock, {},      false,   std::move(spawned)};
    if (job.state_dir) {
        carry_over(*job.state_dir, ctx);
    }
    replicate_to_all(ctx);
    finish_times();
    if (job.state_dir) {
        if (auto written = write_replicate_status(*job.state_dir, report.to_status()); !written) {
            report.status_error = written.error();
            ctx.log(LogLevel::error, written.error().message());
        } else {
            report.status_file = replicate_status_path(*job.state_dir).string();
        }
    }
    return report;
}

} // namespace backup::core
