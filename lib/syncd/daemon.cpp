#include "syncd/daemon.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "model/repository.hpp"
#include "state/replicate_status.hpp"
#include "state/snapshot_ids.hpp"
#include "state/syncd_state.hpp"
#include "state/syncd_status.hpp"
#include "syncd/lister.hpp"
#include "syncd/snapshots.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/signals.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// What a batch of events may have changed, in order of urgency: a complete snapshot file that
// appeared starts a run at once; anything else (a deletion, lost events) after the settle time,
// which merges a burst such as a forget of many snapshots into one run.
enum class Change { none, some, appeared };

// An inotify watch on the snapshots directory, renewed when the directory is replaced. Events
// only make the daemon look sooner: what counts is always a full listing.
class SnapshotWatch {
public:
    explicit SnapshotWatch(fs::path dir) : m_dir(std::move(dir)) {
        m_fd.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
        m_init_errno = m_fd ? 0 : errno;
    }
    bool available() const { return m_fd.valid(); }
    int init_errno() const { return m_init_errno; }
    int fd() const { return m_fd.get(); }

    // Watches the directory when it is not watched yet (it may not exist yet).
    void ensure() {
        if (m_watch >= 0 || !m_fd) {
            return;
        }
        m_watch = ::inotify_add_watch(m_fd.get(), m_dir.c_str(),
                                      IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                          IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    }

    // Reads every pending event: what they may have changed (the most urgent kind).
    Change drain() {
        alignas(inotify_event) char buffer[16384];
        Change change = Change::none;
        ssize_t n;
        while ((n = ::read(m_fd.get(), buffer, sizeof buffer)) > 0) {
            for (char* p = buffer; p < buffer + n;) {
                auto* event = reinterpret_cast<inotify_event*>(p);
                p += sizeof(inotify_event) + event->len;
                change = std::max(change, classify(*event));
            }
        }
        // The directory went away or was replaced: watch the new one.
        ensure();
        return change;
    }

private:
    Change classify(const inotify_event& event) {
        if (event.mask & IN_Q_OVERFLOW) {
            return Change::some; // lost events: only a full listing can tell
        }
        if (event.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
            if (event.mask & IN_IGNORED) {
                m_watch = -1;
            }
            return Change::some;
        }
        if (event.len == 0 || !is_repository_id(std::string_view(event.name))) {
            return Change::none;
        }
        // Storage servers write a snapshot under a temporary name and rename it into place, so
        // its first event under its own name means it is complete; a file written in place is
        // complete when it is closed. A bare creation or a deletion waits for the settle time.
        return (event.mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) ? Change::appeared : Change::some;
    }

    fs::path m_dir;
    util::Fd m_fd;
    int m_init_errno = 0;
    int m_watch = -1;
};

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

// One sync at a time per client, across restarts of the daemon: each run holds an exclusive
// flock on STATE_DIR/backup-syncd.lock through a descriptor that the sync command inherits, so the
// lock lives exactly as long as the run (and whatever it started), even when the daemon that
// started it was killed. A new daemon that finds it held waits for that run.
fs::path run_lock_path(const fs::path& state_dir) {
    return state_dir / "backup-syncd.lock";
}

// The run lock, taken (and made inheritable); nullopt while an earlier run holds it.
Expected<std::optional<util::Fd>> take_run_lock(const fs::path& state_dir) {
    util::Fd fd = TRY(util::open_fd(run_lock_path(state_dir).string(), O_RDWR | O_CREAT, 0600));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            return std::nullopt;
        }
        return util::fail_errno(errno, fmt::format("lock {}", run_lock_path(state_dir).string()));
    }
    return std::optional<util::Fd>(std::move(fd));
}

// The daemon's loop. Its decisions: when to list, when to run, what to tell the command.
class SyncDaemon {
public:
    SyncDaemon(const SyncdOptions& options, SyncState state, util::SignalFd signals,
               std::unique_ptr<SnapshotLister> lister, std::optional<EventListener> events)
        : m_options(options), m_state(std::move(state)), m_signals(std::move(signals)),
          m_lister(std::move(lister)), m_events(std::move(events)) {
        if (m_options.remote.empty()) {
            m_watch.emplace(options.watch_dir);
        }
    }
    Expected<void> run();

private:
    void log(const std::string& line) {
        std::fputs(fmt::format("{}: {}\n", m_options.client, line).c_str(), stdout);
        std::fflush(stdout);
    }
    void act_on_timers();
    Expected<void> wait_for_events();
    void handle_signals();
    void handle_bucket_events();
    void rescan_and_maybe_schedule(const char* why);
    // A run of the sync command for what changed; with nothing changed, only when asked.
    // listing: what rescan_and_maybe_schedule just listed (else it lists).
    void start_sync(bool even_if_unchanged = false,
                    std::optional<SnapshotIds> listing = std::nullopt);
    Expected<SnapshotIds> list_snapshots();
    bool watch_available() const { return m_watch && m_watch->available(); }
    Expected<util::Child> spawn_sync(const SnapshotDiff& diff, const util::TempDir& dir);
    void finish_sync(int wait_status);
    void schedule_run(Change change);
    void read_deletions_due();
    bool record_success();
    void schedule_retry(const std::string& why, double took);
    void shut_down();
    void write_status();
    Clock::time_point next_wakeup() const;

    SyncdOptions m_options;
    SyncState m_state;
    util::SignalFd m_signals;
    std::unique_ptr<SnapshotLister> m_lister;
    std::optional<SnapshotWatch> m_watch;  // local mode only
    std::optional<EventListener> m_events; // listing mode with --event-listen
    Clock::time_point m_last_listing{};
    std::size_t m_events_pending = 0; // events that may concern snapshots/ since the last listing
    std::optional<util::Child> m_child;
    std::optional<util::TempDir> m_run_dir;
    SnapshotIds m_running_for; // the listing the running sync was started with
    Clock::time_point m_run_started{};

    std::optional<Clock::time_point> m_run_at; // a run is due at this time
    Clock::time_point m_next_scan{};
    std::optional<Clock::time_point> m_retry_at; // after a failure
    // When the sync command's own status (restic-replicate's replicate-status.json) says its
    // earliest pending deletion falls due (keep_deleted): a run then, even with nothing new.
    std::optional<Clock::time_point> m_deletions_due;
    Change m_dirty = Change::none; // changed while a run was active
    bool m_stopping = false;
    bool m_waiting_for_repository = false; // before restic init: no config, no snapshots/
    bool m_waiting_for_old_run = false;    // a run of an earlier daemon still holds the lock
    int m_failures = 0;
    SyncStatus m_status;
};

void SyncDaemon::write_status() {
    m_status.client = m_options.client;
    m_status.watchdir = m_lister->watched();
    m_status.pid = ::getpid();
    m_status.updated = util::format_time(util::now());
    m_status.consecutive_failures = m_failures;
    m_status.running = m_child.has_value();
    m_status.snapshots_synced = static_cast<std::int64_t>(m_state.synced.size());
    m_status.next_retry.reset();
    if (m_retry_at) {
        m_status.next_retry =
            util::format_time(util::now() + std::chrono::duration_cast<util::SystemTime::duration>(
                                                *m_retry_at - Clock::now()));
    }
    if (auto ok = write_sync_status(m_options.state_dir, m_status); !ok) {
        log(fmt::format("error: {}", ok.error().message()));
    }
}

// The listing, with one more safeguard: an empty listing while snapshots were synced counts
// only when the repository is still there (its config), so a store that lost the path, or an
// unmounted disk that left an empty directory behind, never reads as "every snapshot went".
Expected<SnapshotIds> SyncDaemon::list_snapshots() {
    m_last_listing = Clock::now();
    m_events_pending = 0; // whatever they announced, this listing sees
    auto current = m_lister->list();
    if (current && current->empty() && !m_state.synced.empty() && !m_lister->repository_made()) {
        return util::fail(ExitCode::temporary,
                          "list {}: empty, and the repository has no config: not taken as "
                          "every snapshot gone",
                          m_lister->watched());
    }
    return current;
}

void SyncDaemon::rescan_and_maybe_schedule(const char* why) {
    m_next_scan = Clock::now() + m_options.loop_delay;
    // Local: a failed listing is tried again within 5 s; listing mode waits for the next
    // interval, each listing being a request to the store.
    auto retry =
        m_watch ? std::min(m_options.loop_delay, milliseconds(5000)) : m_options.loop_delay;
    if (m_watch) {
        m_watch->ensure();
    }
    auto current = list_snapshots();
    if (!current) {
        // A signal stopped the listing: TERM ends the daemon, HUP lists again at once.
        handle_signals();
        if (m_stopping || m_next_scan <= Clock::now()) {
            return;
        }
    }
    if (!current && m_state.synced.empty() && !m_lister->repository_made()) {
        // Before the client's `restic init` there is nothing to watch yet: no error. A
        // repository that had snapshots and is gone (a disk not mounted) is one.
        if (!m_waiting_for_repository) {
            log(fmt::format("waiting for the repository at {} (restic init on the client)",
                            m_lister->repository()));
            m_waiting_for_repository = true;
            m_status.watch_error.reset();
            write_status();
        }
        m_next_scan = Clock::now() + retry;
        return;
    }
    if (m_waiting_for_repository) {
        log("the repository is there");
        m_waiting_for_repository = false;
    }
    if (!current) {
        std::string error = current.error().message();
        if (error != m_status.watch_error) {
            log(fmt::format("error: {}; retrying every {:g} s (nothing is treated as gone)", error,
                            seconds(retry)));
            m_status.watch_error = error;
            write_status();
        }
        m_next_scan = Clock::now() + retry;
        return;
    }
    if (m_status.watch_error) {
        log(fmt::format("{} is readable again", m_lister->watched()));
        m_status.watch_error.reset();
        write_status();
    }
    auto diff = diff_snapshots(m_state.synced, *current);
    auto appeared = static_cast<std::int64_t>(diff.appeared.size());
    auto gone = static_cast<std::int64_t>(diff.gone.size());
    if (diff.empty()) {
        m_status.pending_appeared = m_status.pending_gone = 0;
        return;
    }
    if (appeared != m_status.pending_appeared || gone != m_status.pending_gone) {
        m_status.last_change_seen = util::format_time(util::now());
        m_status.pending_appeared = appeared;
        m_status.pending_gone = gone;
        log(fmt::format("{}: {} appeared, {} gone", why, appeared, gone));
    }
    if (!m_retry_at) {
        start_sync(false, std::move(*current)); // during a backoff, the retry picks up everything
    }
}

Expected<util::Child> SyncDaemon::spawn_sync(const SnapshotDiff& diff, const util::TempDir& dir) {
    fs::path appeared = dir.path() / "appeared";
    fs::path gone = dir.path() / "gone";
    TRY(write_snapshot_id_file(appeared.string(), diff.appeared));
    TRY(write_snapshot_id_file(gone.string(), diff.gone));
    util::SpawnOptions o;
    o.argv = m_options.command;
    o.argv.push_back(appeared.string());
    o.argv.push_back(gone.string());
    o.env = util::current_environment();
    o.env["BACKUP_CLIENT"] = m_options.client;
    o.env["BACKUP_REPOSITORY"] = m_lister->repository();
    o.env["BACKUP_WATCHDIR"] = m_lister->watched();
    if (!m_options.rclone_config.empty()) {
        o.env["RCLONE_CONFIG"] = m_options.rclone_config; // the sync reads the same remote
    }
    o.stdout_mode = util::Output::inherit;
    o.stderr_mode = util::Output::inherit;
    o.timeout = m_options.timeout;
    o.kill_grace = m_options.term_grace;
    return util::Child::spawn(o);
}

void SyncDaemon::start_sync(bool even_if_unchanged, std::optional<SnapshotIds> listing) {
    m_run_at.reset();
    auto current = listing ? Expected<SnapshotIds>(std::move(*listing)) : list_snapshots();
    if (!current) {
        return rescan_and_maybe_schedule("listing");
    }
    auto diff = diff_snapshots(m_state.synced, *current);
    if (diff.empty() && !even_if_unchanged) {
        return;
    }
    auto lock = take_run_lock(m_options.state_dir);
    if (!lock || !*lock) {
        if (!lock) {
            log(fmt::format("error: {}", lock.error().message()));
        } else if (!m_waiting_for_old_run) {
            log("a sync started by an earlier backup-syncd still runs: waiting for it to end");
        }
        m_waiting_for_old_run = lock.has_value();
        m_run_at = Clock::now() + milliseconds(200);
        return;
    }
    if (m_waiting_for_old_run) {
        log("the earlier sync ended");
        m_waiting_for_old_run = false;
    }
    auto dir = util::TempDir::create_in_tmp("backup-syncd");
    if (!dir) {
        log(fmt::format("error: {}", dir.error().message()));
        m_retry_at = Clock::now() + m_options.retry_min;
        return;
    }
    // The child inherits the locked descriptor; this process's copy closes at the end of scope.
    ::fcntl((*lock)->get(), F_SETFD, 0);
    auto child = spawn_sync(diff, *dir);
    m_status.last_attempt = util::format_time(util::now());
    if (!child) {
        log(fmt::format("error: {}", child.error().message()));
        m_run_started = Clock::now();
        finish_sync(-1);
        return;
    }
    m_child.emplace(std::move(*child));
    m_run_dir.emplace(std::move(*dir));
    m_running_for = *current;
    m_run_started = Clock::now();
    m_dirty = Change::none;
    log(fmt::format("sync started (pid {}): {} appeared, {} gone", m_child->pid(),
                    diff.appeared.size(), diff.gone.size()));
    write_status();
}

// The synced listing saved: false (logged) when the state file cannot be written, e.g. a
// read-only state directory. The run then counts as failed: without a record the next run would
// repeat it at once, again and again.
bool SyncDaemon::record_success() {
    SyncState next = m_state;
    next.synced = m_running_for;
    next.initialized = true;
    if (auto saved = write_sync_state(m_options.state_dir, next); !saved) {
        m_status.last_result = fmt::format(
            "ran, but its success could not be recorded ({}): check the state directory {}",
            saved.error().message(), m_options.state_dir.string());
        m_status.state_error = saved.error().message();
        return false;
    }
    m_status.state_error.reset();
    m_state = std::move(next);
    m_failures = 0;
    m_retry_at.reset();
    m_status.last_success = util::format_time(util::now());
    m_status.last_result = "ok";
    m_status.pending_appeared = m_status.pending_gone = 0;
    return true;
}

void SyncDaemon::schedule_retry(const std::string& why, double took) {
    ++m_failures;
    auto delay = retry_delay(m_failures, m_options.retry_min, m_options.retry_max);
    m_retry_at = Clock::now() + delay;
    log(fmt::format("sync failed: {} after {:.1f}s; retry {} in {:.1f}s", why, took, m_failures,
                    seconds(delay)));
}

void SyncDaemon::finish_sync(int wait_status) {
    double took = seconds(Clock::now() - m_run_started);
    util::ProcessResult result;
    result.wait_status = wait_status;
    result.timed_out = m_child && m_child->timed_out();
    bool ok = wait_status >= 0 && result.success() && !result.timed_out;
    m_child.reset();
    m_run_dir.reset();
    if (!ok) {
        m_status.last_result = wait_status >= 0 ? result.describe() : "could not start";
        schedule_retry(*m_status.last_result, took);
    } else if (!record_success()) {
        ok = false;
        schedule_retry(*m_status.last_result, took);
    } else {
        log(fmt::format("sync succeeded in {:.1f}s", took));
    }
    write_status();
    read_deletions_due();
    if (ok && m_dirty != Change::none) {
        schedule_run(m_dirty);
    }
}

// A sync command other than restic-replicate writes no such file: nothing is ever due. One that
// cannot be read leaves the next change or full listing to trigger the run.
void SyncDaemon::read_deletions_due() {
    m_deletions_due.reset();
    auto status = read_replicate_status(m_options.state_dir);
    if (!status || !*status) {
        return;
    }
    std::optional<std::int64_t> earliest;
    for (const auto& d : (*status)->destinations) {
        if (!d.retention || !d.retention->next_due) {
            continue;
        }
        if (auto due = util::parse_unix_time(*d.retention->next_due);
            due && (!earliest || *due < *earliest)) {
            earliest = due;
        }
    }
    if (earliest) {
        auto wait = util::from_unix(*earliest) - util::now();
        m_deletions_due = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::max(wait, decltype(wait)::zero()));
    }
}

// A new snapshot runs at once (it is complete, and waiting only adds latency); other changes run
// once the directory has been quiet for the settle time. Whatever arrives while a run is prepared
// or runs goes into the next one.
void SyncDaemon::schedule_run(Change change) {
    auto now = Clock::now();
    if (change == Change::appeared) {
        m_run_at = now;
    } else if (!m_run_at || *m_run_at > now) {
        m_run_at = now + m_options.settle; // a run already due is not put off
    }
}

Clock::time_point SyncDaemon::next_wakeup() const {
    // While a sync runs, only its own timers count (act_on_timers does nothing else then): a
    // listing or run that fell due meanwhile waits for its end, without waking the loop.
    Clock::time_point t = m_child ? Clock::now() + milliseconds(60000) : m_next_scan;
    std::array<std::optional<Clock::time_point>, 3> timers;
    if (m_child) {
        timers = {m_child->next_event()};
    } else {
        timers = {m_run_at, m_retry_at, m_retry_at ? std::nullopt : m_deletions_due};
    }
    for (const auto& candidate : timers) {
        if (candidate) {
            t = std::min(t, *candidate);
        }
    }
    if (auto deadline = m_events ? m_events->next_deadline() : std::nullopt) {
        t = std::min(t, *deadline);
    }
    return t;
}

void SyncDaemon::act_on_timers() {
    if (m_child) {
        bool was_stopping = m_child->stopping();
        m_child->tick();
        if (m_child->timed_out() && !was_stopping) {
            log(fmt::format("sync timed out after {:g} s; stopping it",
                            seconds(m_options.timeout)));
        }
        return;
    }
    auto now = Clock::now();
    if (now >= m_next_scan && m_events_pending > 0) {
        log(fmt::format("bucket event: listing {} now ({} event{} since the last listing)",
                        m_lister->watched(), m_events_pending, m_events_pending == 1 ? "" : "s"));
        rescan_and_maybe_schedule("event");
        write_status(); // with events_received and last_event, at most once a listing
    } else if (now >= m_next_scan) {
        rescan_and_maybe_schedule("full listing");
    } else if (m_retry_at && now >= *m_retry_at) {
        m_retry_at.reset();
        m_run_at.reset();
        log(fmt::format("retrying (failure {})", m_failures));
        start_sync();
    } else if (m_run_at && now >= *m_run_at && !m_retry_at) {
        m_run_at.reset();
        rescan_and_maybe_schedule("change");
    } else if (m_deletions_due && now >= *m_deletions_due && !m_retry_at) {
        m_deletions_due.reset();
        log("deletions fall due (keep_deleted): running the sync");
        start_sync(true);
    } else if (m_run_at && m_retry_at) {
        m_run_at.reset(); // a change during backoff waits for the retry
    }
}

void SyncDaemon::handle_signals() {
    while (int sig = m_signals.take()) {
        if (sig == SIGHUP) {
            m_next_scan = Clock::now(); // an administrator's "look now"
        } else {
            m_stopping = true;
        }
    }
}

// Events make the next listing come at once, but never sooner than event_listing_interval
// after the last one: a storm of events is one listing a second, not a storm of requests to the
// store. Events about other objects (restic's data/ and index/ uploads) are only counted.
void SyncDaemon::handle_bucket_events() {
    if (!m_events) {
        return;
    }
    auto received = m_events->service();
    if (received.events == 0) {
        return;
    }
    m_status.events_received += static_cast<std::int64_t>(received.events);
    m_status.last_event = util::format_time(util::now());
    if (received.concerning == 0) {
        return;
    }
    m_events_pending += received.concerning;
    m_next_scan = std::min(
        m_next_scan, std::max(Clock::now(), m_last_listing + m_options.event_listing_interval));
}

Expected<void> SyncDaemon::wait_for_events() {
    std::vector<pollfd> fds = {{m_signals.fd(), POLLIN, 0}};
    if (watch_available()) {
        fds.push_back({m_watch->fd(), POLLIN, 0});
    }
    if (m_child && m_child->exit_fd()) {
        fds.push_back({m_child->exit_fd().get(), POLLIN, 0});
    }
    if (m_events) {
        m_events->add_poll_fds(fds);
    }
    auto wait = std::chrono::duration_cast<milliseconds>(next_wakeup() - Clock::now());
    int timeout_ms = static_cast<int>(std::clamp<long long>(wait.count() + 1, 0, 60000));
    if (m_child && !m_child->exit_fd()) {
        timeout_ms = std::min(timeout_ms, 50);
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        return util::fail_errno(errno, "wait for events");
    }
    handle_signals();
    handle_bucket_events();
    if (Change change = watch_available() ? m_watch->drain() : Change::none;
        change != Change::none) {
        if (m_child) {
            m_dirty = std::max(m_dirty, change);
        } else {
            schedule_run(change);
        }
    }
    if (m_child) {
        auto status = m_child->wait_for(milliseconds(0));
        if (status && *status) {
            finish_sync(**status);
        }
    }
    return {};
}

void SyncDaemon::shut_down() {
    log("stopping");
    if (m_child) {
        log(fmt::format("stopping the running sync (pid {})", m_child->pid()));
        auto status = m_child->terminate();
        m_running_for.clear();
        m_child.reset();
        m_run_dir.reset();
        m_status.last_result =
            status ? "stopped by backup-syncd's shutdown" : "could not be stopped";
    }
    write_status();
}

Expected<void> SyncDaemon::run() {
    if (m_watch && !m_watch->available()) {
        log(fmt::format("warning: no inotify ({}); listing every {:g} s",
                        std::strerror(m_watch->init_errno()), seconds(m_options.loop_delay)));
    }
    if (m_watch) {
        log(fmt::format("watching {} ({} snapshots synced before)", m_lister->watched(),
                        m_state.synced.size()));
    } else {
        log(fmt::format("watching {} by listing it every {:g} s ({} snapshots synced before)",
                        m_lister->watched(), seconds(m_options.loop_delay), m_state.synced.size()));
    }
    if (m_events && m_options.event_listen) {
        EventAddress where = *m_options.event_listen;
        where.port = m_events->port();
        log(fmt::format("listening for bucket events on {} (a listing at most every {:g} s)",
                        where.text(), seconds(m_options.event_listing_interval)));
    }
    m_next_scan = Clock::now() + m_options.startup_delay;
    write_status();
    read_deletions_due();
    while (!m_stopping) {
        act_on_timers();
        TRY(wait_for_events());
    }
    shut_down();
    return {};
}

} // namespace

Expected<void> run_sync_daemon(const SyncdOptions& options) {
    if (options.command.empty()) {
        return util::fail(ExitCode::permanent, "start: no sync command (--script)");
    }
    if (options.remote.empty() && !options.watch_dir.is_absolute()) {
        return util::fail(ExitCode::permanent, "watch {}: not an absolute path",
                          options.watch_dir.string());
    }
    std::error_code ec;
    if (!fs::is_directory(options.state_dir, ec)) {
        return util::fail(ExitCode::temporary, "use state directory {}: not a directory",
                          options.state_dir.string());
    }
    SyncState state = TRY(read_sync_state(options.state_dir));
    util::SignalFd signals = TRY(util::SignalFd::create({SIGTERM, SIGINT, SIGHUP}));
    std::unique_ptr<SnapshotLister> lister;
    if (options.remote.empty()) {
        lister = std::make_unique<LocalSnapshotLister>(options.watch_dir);
    } else {
        RcloneRunner runner;
        runner.program = util::bundled_program("rclone").value_or("rclone");
        runner.env = util::current_environment();
        if (!options.rclone_config.empty()) {
            runner.env["RCLONE_CONFIG"] = options.rclone_config;
        }
        runner.stop_fd = signals.fd();
        lister = std::make_unique<RcloneSnapshotLister>(options.remote, std::move(runner),
                                                        options.state_dir);
    }
    std::optional<EventListener> events;
    if (options.event_listen) {
        if (options.remote.empty()) {
            return util::fail(ExitCode::permanent,
                              "listen for bucket events: only in listing mode (--remote)");
        }
        events.emplace(TRY(EventListener::open(*options.event_listen)));
    }
    SyncDaemon daemon(options, std::move(state), std::move(signals), std::move(lister),
                      std::move(events));
    return daemon.run();
}

} // namespace backup::core
