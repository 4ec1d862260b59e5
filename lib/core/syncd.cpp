#include "core/syncd.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/repository.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/spawn.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int k_state_schema = 1;
constexpr int k_status_schema = 1;

Expected<SnapshotIds> list_snapshot_ids(const fs::path& dir) {
    auto fd = util::open_fd(dir.string(), O_RDONLY | O_DIRECTORY);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    DIR* d = ::fdopendir(fd->get());
    if (d == nullptr) {
        return util::fail_errno(errno, fmt::format("list {}", dir.string()));
    }
    fd->release(); // closedir owns it now
    SnapshotIds ids;
    errno = 0;
    int error = 0;
    while (dirent* entry = ::readdir(d)) {
        std::string_view name = entry->d_name;
        if (!is_repository_id(name)) {
            continue;
        }
        unsigned char type = entry->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(::dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode)) {
                type = DT_REG;
            }
        }
        if (type == DT_REG) {
            ids.emplace(name);
        }
        errno = 0;
    }
    error = errno;
    ::closedir(d);
    if (error != 0) {
        return util::fail_errno(error, fmt::format("list {}", dir.string()));
    }
    return ids;
}

SnapshotDiff diff_snapshots(const SnapshotIds& synced, const SnapshotIds& current) {
    SnapshotDiff d;
    std::set_difference(current.begin(), current.end(), synced.begin(), synced.end(),
                        std::back_inserter(d.appeared));
    std::set_difference(synced.begin(), synced.end(), current.begin(), current.end(),
                        std::back_inserter(d.gone));
    return d;
}

Expected<void> write_id_file(const fs::path& path, const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) {
        text += id;
        text.push_back('\0');
    }
    return util::atomic_write(path.string(), text, 0644);
}

Expected<std::vector<std::string>> read_id_file(const fs::path& path) {
    auto text = util::read_file(path.string());
    if (!text) {
        return std::unexpected(text.error());
    }
    std::vector<std::string> ids;
    std::size_t pos = 0;
    while (pos < text->size()) {
        auto end = text->find('\0', pos);
        if (end == std::string::npos) {
            return util::fail(ExitCode::permanent, "read {}: last ID is not NUL-terminated",
                              path.string());
        }
        ids.push_back(text->substr(pos, end - pos));
        pos = end + 1;
    }
    return ids;
}

milliseconds retry_delay(int failures, milliseconds min, milliseconds max) {
    milliseconds delay = min;
    for (int i = 1; i < failures && delay < max; ++i) {
        delay *= 2;
    }
    return std::min(delay, max);
}

namespace {

fs::path state_file(const fs::path& state_dir) { return state_dir / "backup-syncd.json"; }
fs::path status_file(const fs::path& state_dir) { return state_dir / "backup-syncd-status.json"; }

} // namespace

Expected<SyncState> load_sync_state(const fs::path& state_dir) {
    SyncState state;
    std::error_code ec;
    if (!fs::exists(state_file(state_dir), ec)) {
        return state;
    }
    auto json = util::read_json_file(state_file(state_dir).string());
    if (!json) {
        return std::unexpected(json.error());
    }
    try {
        if (json->at("schema").get<int>() != k_state_schema) {
            return util::fail(ExitCode::permanent, "read {}: unsupported schema {}",
                              state_file(state_dir).string(), json->at("schema").dump());
        }
        for (const auto& id : json->at("synced")) {
            std::string s = id.get<std::string>();
            if (!is_repository_id(s)) {
                return util::fail(ExitCode::permanent, "read {}: '{}' is not a snapshot ID",
                                  state_file(state_dir).string(), s);
            }
            state.synced.insert(std::move(s));
        }
    } catch (const util::Json::exception& e) {
        return util::fail(ExitCode::permanent, "read {}: {}", state_file(state_dir).string(),
                          e.what());
    }
    state.initialized = true;
    return state;
}

Expected<void> save_sync_state(const fs::path& state_dir, const SyncState& state) {
    util::Json json = {{"schema", k_state_schema},
                       {"synced", std::vector<std::string>(state.synced.begin(),
                                                           state.synced.end())}};
    return util::write_json_file(state_file(state_dir).string(), json, 0644);
}

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// The daemon's loop. Its decisions: when to list, when to run, what to tell the command.
class SyncDaemon {
public:
    explicit SyncDaemon(const SyncdOptions& options) : m_options(options) {}
    Expected<int> run();

private:
    void log(const std::string& line) {
        std::fputs(fmt::format("{}: {}\n", m_options.client, line).c_str(), stdout);
        std::fflush(stdout);
    }
    void ensure_watch();
    void drain_inotify();
    void rescan_and_maybe_schedule(const char* why);
    void start_sync();
    void finish_sync(int wait_status);
    void write_status();
    Clock::time_point next_wakeup() const;

    SyncdOptions m_options;
    SyncState m_state;
    util::Fd m_inotify;
    int m_watch = -1;
    util::Fd m_signals;
    std::optional<util::Child> m_child;
    std::optional<util::TempDir> m_run_dir;
    SnapshotIds m_running_for; // the listing the running sync was started with
    Clock::time_point m_run_started{};
    bool m_timed_out = false;
    std::optional<Clock::time_point> m_kill_at;

    std::optional<Clock::time_point> m_run_at;   // a run is due at this time
    Clock::time_point m_next_scan{};
    std::optional<Clock::time_point> m_retry_at; // after a failure
    bool m_dirty = false; // changed while a run was active
    int m_failures = 0;
    std::string m_watch_error;
    std::string m_last_result;
    std::int64_t m_last_change = 0;
    std::int64_t m_last_success = 0;
    std::int64_t m_last_attempt = 0;
    std::size_t m_pending_appeared = 0;
    std::size_t m_pending_gone = 0;
};

void SyncDaemon::ensure_watch() {
    if (m_watch >= 0 || !m_inotify) {
        return;
    }
    int wd = ::inotify_add_watch(m_inotify.get(), m_options.watch_dir.c_str(),
                                 IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                     IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
    if (wd >= 0) {
        m_watch = wd;
    }
}

void SyncDaemon::drain_inotify() {
    alignas(inotify_event) char buffer[16384];
    bool relevant = false;
    for (;;) {
        ssize_t n = ::read(m_inotify.get(), buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        for (char* p = buffer; p < buffer + n;) {
            auto* event = reinterpret_cast<inotify_event*>(p);
            p += sizeof(inotify_event) + event->len;
            if (event->mask & IN_Q_OVERFLOW) {
                relevant = true; // lost events: only a full listing can tell
            }
            if (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                if (m_watch >= 0 && (event->mask & IN_IGNORED)) {
                    m_watch = -1;
                }
                relevant = true;
                continue;
            }
            if (event->len > 0 && is_repository_id(std::string_view(event->name))) {
                relevant = true;
            }
        }
    }
    if (m_watch < 0) {
        // The directory went away or was replaced: drop the old watch and watch the new one.
        ensure_watch();
    }
    if (relevant) {
        if (m_child) {
            m_dirty = true;
        } else {
            // Coalesce a burst: run once the directory has been quiet for the settle time.
            m_run_at = Clock::now() + m_options.settle;
        }
    }
}

void SyncDaemon::rescan_and_maybe_schedule(const char* why) {
    m_next_scan = Clock::now() + m_options.loop_delay;
    ensure_watch();
    auto current = list_snapshot_ids(m_options.watch_dir);
    if (!current) {
        std::string error = current.error().message();
        if (error != m_watch_error) {
            log(fmt::format("error: {}; retrying every {} ms (nothing is treated as gone)", error,
                            m_options.loop_delay.count()));
            m_watch_error = error;
            write_status();
        }
        m_next_scan = Clock::now() + std::min(m_options.loop_delay, milliseconds(5000));
        return;
    }
    if (!m_watch_error.empty()) {
        log(fmt::format("{} is readable again", m_options.watch_dir.string()));
        m_watch_error.clear();
        write_status();
    }
    auto diff = diff_snapshots(m_state.synced, *current);
    if (diff.empty()) {
        m_pending_appeared = m_pending_gone = 0;
        return;
    }
    if (diff.appeared.size() != m_pending_appeared || diff.gone.size() != m_pending_gone) {
        m_last_change = unix_now();
        m_pending_appeared = diff.appeared.size();
        m_pending_gone = diff.gone.size();
        log(fmt::format("{}: {} appeared, {} gone", why, diff.appeared.size(), diff.gone.size()));
    }
    if (m_retry_at) {
        return; // the retry picks up everything pending
    }
    start_sync();
}

void SyncDaemon::start_sync() {
    m_run_at.reset();
    auto current = list_snapshot_ids(m_options.watch_dir);
    if (!current) {
        return rescan_and_maybe_schedule("listing");
    }
    auto diff = diff_snapshots(m_state.synced, *current);
    if (diff.empty()) {
        return;
    }
    auto dir = util::TempDir::create_in_tmp("backup-syncd");
    if (!dir) {
        log(fmt::format("error: {}", dir.error().message()));
        m_retry_at = Clock::now() + m_options.retry_min;
        return;
    }
    fs::path appeared = dir->path() / "appeared";
    fs::path gone = dir->path() / "gone";
    if (auto ok = write_id_file(appeared, diff.appeared); !ok) {
        log(fmt::format("error: {}", ok.error().message()));
        m_retry_at = Clock::now() + m_options.retry_min;
        return;
    }
    if (auto ok = write_id_file(gone, diff.gone); !ok) {
        log(fmt::format("error: {}", ok.error().message()));
        m_retry_at = Clock::now() + m_options.retry_min;
        return;
    }
    util::SpawnOptions o;
    o.argv = m_options.command;
    o.argv.push_back(appeared.string());
    o.argv.push_back(gone.string());
    o.env = util::current_environment();
    o.env["BACKUP_CLIENT"] = m_options.client;
    o.env["BACKUP_REPOSITORY"] = m_options.watch_dir.parent_path().string();
    o.env["BACKUP_WATCHDIR"] = m_options.watch_dir.string();
    o.stdout_mode = util::Output::inherit;
    o.stderr_mode = util::Output::inherit;
    auto child = util::Child::spawn(o);
    m_last_attempt = unix_now();
    if (!child) {
        finish_sync(-1);
        log(fmt::format("error: {}", child.error().message()));
        return;
    }
    m_child.emplace(std::move(*child));
    m_run_dir.emplace(std::move(*dir));
    m_running_for = *current;
    m_run_started = Clock::now();
    m_timed_out = false;
    m_kill_at.reset();
    m_dirty = false;
    log(fmt::format("sync started (pid {}): {} appeared, {} gone", m_child->pid(),
                    diff.appeared.size(), diff.gone.size()));
    write_status();
}

void SyncDaemon::finish_sync(int wait_status) {
    auto took = std::chrono::duration<double>(Clock::now() - m_run_started).count();
    util::ProcessResult result;
    result.wait_status = wait_status;
    result.timed_out = m_timed_out;
    bool ok = wait_status >= 0 && result.success() && !m_timed_out;
    m_child.reset();
    m_run_dir.reset();
    if (ok) {
        m_state.synced = m_running_for;
        m_state.initialized = true;
        if (auto saved = save_sync_state(m_options.state_dir, m_state); !saved) {
            // Not advancing is safe: the next run repeats this one.
            log(fmt::format("error: {}; the next sync repeats this one", saved.error().message()));
            m_state = load_sync_state(m_options.state_dir).value_or(SyncState{});
        }
        m_failures = 0;
        m_retry_at.reset();
        m_last_success = unix_now();
        m_last_result = "ok";
        m_pending_appeared = m_pending_gone = 0;
        log(fmt::format("sync succeeded in {:.1f}s", took));
    } else {
        ++m_failures;
        auto delay = retry_delay(m_failures, m_options.retry_min, m_options.retry_max);
        m_retry_at = Clock::now() + delay;
        m_last_result = wait_status >= 0 ? result.describe() : "could not start";
        log(fmt::format("sync failed: {} after {:.1f}s; retry {} in {:.1f}s", m_last_result, took,
                        m_failures, std::chrono::duration<double>(delay).count()));
    }
    write_status();
    if (ok && m_dirty) {
        m_run_at = Clock::now() + m_options.settle;
    }
}

void SyncDaemon::write_status() {
    auto now_steady = Clock::now();
    util::Json json = {
        {"schema", k_status_schema},
        {"client", m_options.client},
        {"watchdir", m_options.watch_dir.string()},
        {"pid", ::getpid()},
        {"updated", unix_now()},
        {"last_change_seen", m_last_change == 0 ? util::Json() : util::Json(m_last_change)},
        {"last_attempt", m_last_attempt == 0 ? util::Json() : util::Json(m_last_attempt)},
        {"last_success", m_last_success == 0 ? util::Json() : util::Json(m_last_success)},
        {"last_result", m_last_result.empty() ? util::Json() : util::Json(m_last_result)},
        {"consecutive_failures", m_failures},
        {"running", m_child.has_value()},
        {"snapshots_synced", m_state.synced.size()},
        {"pending_appeared", m_pending_appeared},
        {"pending_gone", m_pending_gone},
        {"watch_error", m_watch_error.empty() ? util::Json() : util::Json(m_watch_error)},
    };
    if (m_retry_at) {
        json["next_retry"] =
            unix_now() +
            std::chrono::duration_cast<std::chrono::seconds>(*m_retry_at - now_steady).count();
    } else {
        json["next_retry"] = nullptr;
    }
    if (auto ok = util::write_json_file(status_file(m_options.state_dir).string(), json); !ok) {
        log(fmt::format("error: {}", ok.error().message()));
    }
}

Clock::time_point SyncDaemon::next_wakeup() const {
    Clock::time_point t = m_next_scan;
    for (const auto& candidate : {m_run_at, m_retry_at, m_kill_at}) {
        if (candidate) {
            t = std::min(t, *candidate);
        }
    }
    if (m_child && !m_timed_out) {
        t = std::min(t, m_run_started + m_options.timeout);
    }
    return t;
}

Expected<int> SyncDaemon::run() {
    auto loaded = load_sync_state(m_options.state_dir);
    if (!loaded) {
        return std::unexpected(loaded.error());
    }
    m_state = *loaded;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
        return util::fail_errno(errno, "block signals");
    }
    m_signals.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!m_signals) {
        return util::fail_errno(errno, "create a signalfd");
    }
    m_inotify.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!m_inotify) {
        log(fmt::format("warning: no inotify ({}); listing every {} ms", std::strerror(errno),
                        m_options.loop_delay.count()));
    }
    log(fmt::format("watching {} ({} snapshots synced before)", m_options.watch_dir.string(),
                    m_state.synced.size()));
    m_next_scan = Clock::now() + m_options.startup_delay;
    write_status();

    bool stopping = false;
    while (!stopping) {
        auto now = Clock::now();
        if (m_child && !m_timed_out && now >= m_run_started + m_options.timeout) {
            m_timed_out = true;
            log(fmt::format("sync timed out after {} ms; stopping it", m_options.timeout.count()));
            m_child->signal(SIGTERM);
            m_child->signal(SIGCONT);
            m_kill_at = now + m_options.term_grace;
        }
        if (m_child && m_kill_at && now >= *m_kill_at) {
            m_child->signal(SIGKILL);
            m_kill_at.reset();
        }
        if (!m_child) {
            if (now >= m_next_scan) {
                rescan_and_maybe_schedule("full listing");
            } else if (m_retry_at && now >= *m_retry_at) {
                m_retry_at.reset();
                m_run_at.reset();
                log(fmt::format("retrying (failure {})", m_failures));
                start_sync();
            } else if (m_run_at && now >= *m_run_at && !m_retry_at) {
                m_run_at.reset();
                rescan_and_maybe_schedule("change");
            } else if (m_run_at && m_retry_at) {
                m_run_at.reset(); // a change during backoff waits for the retry
            }
        }

        std::vector<pollfd> fds = {{m_signals.get(), POLLIN, 0}};
        if (m_inotify) {
            fds.push_back({m_inotify.get(), POLLIN, 0});
        }
        if (m_child && m_child->exit_fd()) {
            fds.push_back({m_child->exit_fd().get(), POLLIN, 0});
        }
        auto wait = std::chrono::duration_cast<milliseconds>(next_wakeup() - Clock::now());
        int timeout_ms = static_cast<int>(std::clamp<long long>(wait.count() + 1, 0, 60000));
        if (m_child && !m_child->exit_fd()) {
            timeout_ms = std::min(timeout_ms, 50);
        }
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
            return util::fail_errno(errno, "wait for events");
        }
        signalfd_siginfo info{};
        while (::read(m_signals.get(), &info, sizeof info) == sizeof info) {
            if (info.ssi_signo == SIGHUP) {
                m_next_scan = Clock::now(); // an administrator's "look now"
            } else {
                stopping = true;
            }
        }
        if (m_inotify) {
            drain_inotify();
        }
        if (m_child) {
            auto status = m_child->wait_for(milliseconds(0));
            if (status && *status) {
                finish_sync(**status);
            }
        }
    }
    log("stopping");
    if (m_child) {
        log(fmt::format("stopping the running sync (pid {})", m_child->pid()));
        auto status = m_child->terminate(m_options.term_grace);
        m_running_for.clear();
        m_child.reset();
        m_run_dir.reset();
        m_last_result = status ? "stopped by backup-syncd's shutdown" : "could not be stopped";
    }
    write_status();
    return 0;
}

} // namespace

Expected<int> run_sync_daemon(const SyncdOptions& options) {
    if (options.command.empty()) {
        return util::fail(ExitCode::permanent, "start: no sync command (--script)");
    }
    if (!options.watch_dir.is_absolute()) {
        return util::fail(ExitCode::permanent, "watch {}: not an absolute path",
                          options.watch_dir.string());
    }
    std::error_code ec;
    if (!fs::is_directory(options.state_dir, ec)) {
        return util::fail(ExitCode::temporary, "use state directory {}: not a directory",
                          options.state_dir.string());
    }
    SyncDaemon daemon(options);
    return daemon.run();
}

} // namespace backup::core
