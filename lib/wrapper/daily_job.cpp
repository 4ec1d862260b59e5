#include "wrapper/daily_job.hpp"

#include "state/wrapper_check.hpp"
#include "state/wrapper_status.hpp"
#include "unroll/unroll.hpp"
#include "util/dir.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/process.hpp"
#include "util/signals.hpp"
#include "util/text.hpp"
#include "util/time.hpp"
#include "wrapper/config.hpp"
#include "wrapper/environment.hpp"
#include "wrapper/report.hpp"
#include "wrapper/restic.hpp"
#include "wrapper/server_check.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fmt/ranges.h>
#include <optional>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace backup::core {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using util::ExitCode;

// How long a command asked to stop (TERM) gets before KILL: restic removes its lock then.
constexpr auto k_kill_grace = 20s;
// After a command exited, how long its pipes are drained (a grandchild may hold them).
constexpr auto k_drain_limit = 2s;
// The private directory of a run's exclude file, in the state dir: a run that was killed leaves
// its directory behind, and the next run (holding the lock) removes it.
constexpr std::string_view k_temp_prefix = "excludes-";
// How many unreadable paths the one-line warning names.
constexpr std::size_t k_paths_in_message = 3;

std::string_view result_name(ExitCode code) {
    switch (code) {
    case ExitCode::ok:
        return "ok";
    case ExitCode::findings:
        return "findings";
    default:
        return "failed";
    }
}

std::string signal_name(int sig) {
    switch (sig) {
    case SIGTERM:
        return "SIGTERM";
    case SIGINT:
        return "SIGINT";
    case SIGHUP:
        return "SIGHUP";
    default:
        return fmt::format("signal {}", sig);
    }
}

std::string last_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    auto nl = text.rfind('\n');
    return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

// Requests to stop (TERM, INT, HUP) while the job runs: blocked, and read from a signalfd, so
// that the job can stop the command it runs and still record how the run ended. When no
// signalfd can be made, the signals are left alone (they end the wrapper as before).
class StopSignals {
public:
    StopSignals() {
        if (auto fd = util::SignalFd::create({SIGTERM, SIGINT, SIGHUP})) {
            m_signals.emplace(std::move(*fd));
        }
    }
    int fd() const { return m_signals ? m_signals->fd() : -1; }
    // A stop request that arrived since the last call, or 0.
    int take() {
        int sig = m_signals ? m_signals->take() : 0;
        if (sig != 0 && m_first == 0) {
            m_first = sig;
        }
        return sig;
    }
    // The first stop request of the run, or 0.
    int first() const { return m_first; }

private:
    std::optional<util::SignalFd> m_signals;
    int m_first = 0;
};

struct StepRun {
    util::ProcessResult result;
    double seconds = 0;
    int stopped_by = 0; // the stop request that ended it, or 0
};

// Runs a command to completion with its output captured, and stops it (TERM to its process
// group, KILL after k_kill_grace) on a stop request or at its timeout.
util::Expected<StepRun> run_step(util::SpawnOptions options, StopSignals& stop) {
    options.stdout_mode = util::Output::capture;
    options.stderr_mode = util::Output::capture;
    options.stdin_data.reset();
    options.new_process_group = true;
    options.kill_grace = k_kill_grace;
    options.drain_limit = k_drain_limit;
    options.stop_fd = stop.fd();
    StepRun run;
    run.result = TRY(util::run(options));
    run.seconds = run.result.seconds;
    if (run.result.stopped) {
        run.stopped_by = stop.take();
    }
    return run;
}

// The exclusive flock on STATE/lock, held while the job runs; the file holds the holder's pid
// for the message a second run prints.
util::Expected<util::FileLock> lock_state_dir(const std::string& state_dir) {
    return util::FileLock::try_acquire_or_fail(state_dir + "/lock", 0600, "start the daily job",
                                               "another 'restic-wrapper --daily' is running");
}

std::string this_host() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) {
        return "localhost";
    }
    return name;
}

class DailyJob {
public:
    DailyJob(WrapperConfig config, const DailyJobOptions& options)
        : m_config(std::move(config)), m_options(options),
          m_host(m_config.host.empty() ? this_host() : m_config.host),
          m_status_file(fmt::format("{}/{}", m_config.state_dir, k_wrapper_status_file)),
          m_check_file(fmt::format("{}/{}", m_config.state_dir, k_wrapper_check_file)) {}

    ExitCode run();

private:
    void error(ExitCode code, std::string message) {
        m_code = util::worse(m_code, code);
        m_attempt.errors.push_back(std::move(message));
    }
    void error(const util::Error& e) {
        m_code = util::worse(m_code, e.code());
        m_attempt.errors.push_back(e.message());
        for (const auto& more : e.more()) {
            m_attempt.errors.push_back(more);
        }
    }
    void warning(std::string message) {
        m_code = util::worse(m_code, ExitCode::findings);
        m_attempt.warnings.push_back(std::move(message));
    }
    void interruption(const std::string& what, int sig) {
        error(ExitCode::temporary, fmt::format("{}: interrupted by {}", what, signal_name(sig)));
        m_interruption_reported = true;
    }
    // A stop request between commands also counts.
    bool interrupted() {
        m_stop.take();
        return m_stop.first() != 0;
    }

    bool apply_priority();
    bool load_environment();
    bool check_server();
    bool write_excludes();
    bool run_hooks(std::string_view kind, const std::vector<HookCommand>& hooks);
    std::optional<StepRun> restic(ResticStep step, std::vector<std::string> args,
                                  std::string_view what);
    bool backup();
    void forget();
    void check();
    void finish();
    void record(std::string name, const std::vector<std::string>& argv, const StepRun& run);
    void write_status();
    void remove_leftovers();

    WrapperConfig m_config;
    DailyJobOptions m_options;
    std::string m_host;
    std::string m_status_file;
    std::string m_check_file;
    StopSignals m_stop;
    ExitCode m_code = ExitCode::ok;
    AttemptRecord m_attempt;
    std::optional<util::Json> m_last_success;
    std::string m_repository;
    Clock::time_point m_started_steady = Clock::now();
    std::optional<ClientEnvironment> m_client;
    std::optional<util::TempDir> m_temp;
    std::string m_exclude_file;
    std::string m_log;
    bool m_interruption_reported = false;
};

void DailyJob::record(std::string name, const std::vector<std::string>& argv, const StepRun& run) {
    StepRecord step;
    step.name = std::move(name);
    if (run.result.exited()) {
        step.exit_code = run.result.exit_code();
    }
    step.ended = run.result.describe();
    step.duration_seconds = run.seconds;
    m_log += fmt::format("== {}: {} ({}, {:.1f} s)\n", step.name, fmt::join(argv, " "), step.ended,
                         run.seconds);
    if (!run.result.out.empty()) {
        m_log += "-- stdout\n" + run.result.out + (run.result.out.ends_with('\n') ? "" : "\n");
    }
    if (!run.result.err.empty()) {
        m_log += "-- stderr\n" + run.result.err + (run.result.err.ends_with('\n') ? "" : "\n");
    }
    m_attempt.steps.push_back(std::move(step));
}

bool DailyJob::apply_priority() {
    bool ok = true;
    if (m_config.nice) {
        if (::setpriority(PRIO_PROCESS, 0, *m_config.nice) != 0) {
            int err = errno;
            error(err == EACCES || err == EPERM ? ExitCode::permanent : ExitCode::temporary,
                  fmt::format("unable to set the nice value to {}: {} (only root may raise the "
                              "priority)",
                              *m_config.nice, std::strerror(err)));
            ok = false;
        }
    }
    if (m_config.io_priority) {
        constexpr int k_ioprio_who_process = 1;
        constexpr int k_ioprio_class_shift = 13;
        int value = (static_cast<int>(m_config.io_priority->io_class) << k_ioprio_class_shift) |
                    m_config.io_priority->level;
        if (::syscall(SYS_ioprio_set, k_ioprio_who_process, 0, value) != 0) {
            int err = errno;
            error(err == EPERM ? ExitCode::permanent : ExitCode::temporary,
                  fmt::format("unable to set the I/O priority: {} (the realtime class needs root)",
                              std::strerror(err)));
            ok = false;
        }
    }
    return ok;
}

bool DailyJob::load_environment() {
    auto client = load_client_environment(m_options.environ_file, util::current_environment());
    if (!client) {
        error(client.error());
        return false;
    }
    const auto& env = client->env;
    auto set = [&](const char* name) {
        auto it = env.find(name);
        return it != env.end() && !it->second.empty();
    };
    if (set("RESTIC_REPOSITORY")) {
        m_repository = redact_repository(env.at("RESTIC_REPOSITORY"));
    } else if (set("RESTIC_REPOSITORY_FILE")) {
        m_repository = "file " + env.at("RESTIC_REPOSITORY_FILE");
    } else {
        error(ExitCode::permanent, fmt::format("unable to back up: {} sets no RESTIC_REPOSITORY",
                                               m_options.environ_file));
        return false;
    }
    if (!set("RESTIC_PASSWORD_FILE") && !set("RESTIC_PASSWORD") &&
        !set("RESTIC_PASSWORD_COMMAND")) {
        error(ExitCode::permanent,
              fmt::format("unable to back up: {} sets no RESTIC_PASSWORD_FILE (restic would ask "
                          "for the password, and cron has no terminal)",
                          m_options.environ_file));
        return false;
    }
    m_client = std::move(*client);
    return true;
}

// restic retries a certificate it does not trust for 15 minutes; the reason is known at once.
bool DailyJob::check_server() {
    if (auto trusted = check_server_certificate(m_client->env); !trusted) {
        error(trusted.error().with_context(fmt::format("unable to back up to {}", m_repository)));
        return false;
    }
    return true;
}

bool DailyJob::write_excludes() {
    const std::string& include_file = m_config.include_file;
    if (util::is_missing(include_file)) {
        error(ExitCode::permanent,
              fmt::format("unable to read the include file {}: no such file; list what to back "
                          "up there, one absolute path per line",
                          include_file));
        return false;
    }
    auto text = util::read_file(include_file);
    if (!text) {
        error(text.error());
        return false;
    }
    auto includes = parse_include_list(*text, include_file);
    if (!includes) {
        error(includes.error());
        return false;
    }
    RealFileSystem fs;
    auto unrolled = unroll(*includes, m_config.root, fs);
    if (!unrolled) {
        error(unrolled.error());
        return false;
    }
    for (const auto& problem : unrolled->problems) {
        warning(problem);
    }
    std::string content;
    const std::string& exclude_file = m_config.exclude_file;
    if (!util::is_missing(exclude_file)) {
        auto excludes = util::read_file(exclude_file);
        if (!excludes) {
            error(excludes.error());
            return false;
        }
        content = fmt::format("# from {}\n{}", exclude_file, *excludes);
        if (!content.ends_with('\n')) {
            content += '\n';
        }
    } else if (m_config.exclude_file_required) {
        error(ExitCode::permanent,
              fmt::format("unable to read the exclude file {}: no such file", exclude_file));
        return false;
    }
    content += fmt::format("# unrolled from {} by restic-wrapper\n", include_file);
    content += render_excludes(*unrolled);
    auto temp = util::TempDir::create(m_config.state_dir + "/" + std::string(k_temp_prefix));
    if (!temp) {
        error(temp.error());
        return false;
    }
    m_exclude_file = (temp->path() / "excludes").string();
    m_temp.emplace(std::move(*temp));
    if (auto ok = util::atomic_write(m_exclude_file, content, 0600); !ok) {
        error(ok.error());
        return false;
    }
    return true;
}

bool DailyJob::run_hooks(std::string_view kind, const std::vector<HookCommand>& hooks) {
    bool all_ok = true;
    for (std::size_t i = 0; i < hooks.size(); ++i) {
        const HookCommand& hook = hooks[i];
        std::string name = fmt::format("hooks.{}[{}]", kind, i);
        util::SpawnOptions o;
        o.argv = hook.argv;
        o.env = util::current_environment();
        o.env["RESTIC_WRAPPER_HOOK"] = std::string(kind);
        o.env["RESTIC_WRAPPER_HOST"] = m_host;
        o.env["RESTIC_WRAPPER_STATE_DIR"] = m_config.state_dir;
        if (kind != "before") {
            o.env["RESTIC_WRAPPER_EXIT_CODE"] = std::to_string(static_cast<int>(m_code));
            o.env["RESTIC_WRAPPER_RESULT"] = std::string(result_name(m_code));
            o.env["RESTIC_WRAPPER_MESSAGE"] =
                !m_attempt.errors.empty()
                    ? m_attempt.errors.front()
                    : (!m_attempt.warnings.empty() ? m_attempt.warnings.front() : "");
            o.env["RESTIC_WRAPPER_SNAPSHOT_ID"] = m_attempt.snapshot_id.value_or("");
        }
        if (hook.timeout_seconds) {
            o.timeout = std::chrono::seconds(*hook.timeout_seconds);
        }
        auto run = run_step(o, m_stop);
        std::string what = fmt::format("unable to run the {} hook '{}' ({})", kind,
                                       fmt::join(hook.argv, " "), name);
        if (!run) {
            m_log += fmt::format("== {}: {} (not started: {})\n", name, fmt::join(hook.argv, " "),
                                 run.error().message());
            error(run.error().code(), fmt::format("{}: {}", what, run.error().message()));
            all_ok = false;
            if (kind == "before") {
                return false;
            }
            continue;
        }
        record(name, hook.argv, *run);
        if (run->stopped_by != 0) {
            interruption(what, run->stopped_by);
            all_ok = false;
            if (kind == "before") {
                return false;
            }
        } else if (!run->result.success()) {
            std::string reason = run->result.describe();
            if (auto line = last_line(run->result.err); !line.empty()) {
                reason += ": " + line;
            }
            // A failed cleanup or notification leaves the backup as it was: a partial failure.
            ExitCode code = kind == "before" ? ExitCode::temporary : ExitCode::findings;
            error(code, fmt::format("{}: {}", what, reason));
            all_ok = false;
            if (kind == "before") {
                return false;
            }
        }
    }
    return all_ok;
}

std::optional<StepRun> DailyJob::restic(ResticStep step, std::vector<std::string> args,
                                        std::string_view what) {
    util::SpawnOptions o;
    o.argv.push_back(m_client->restic);
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = m_client->env;
    if (m_config.timeout_seconds) {
        o.timeout = std::chrono::seconds(*m_config.timeout_seconds);
    }
    auto run = run_step(o, m_stop);
    if (!run) {
        error(run.error().with_context(fmt::format("unable to {}", what)));
        return std::nullopt;
    }
    record(std::string(to_string(step)), o.argv, *run);
    ExitCode code = map_restic_exit(step, run->result);
    if (run->stopped_by != 0) {
        interruption(fmt::format("unable to {}", what), run->stopped_by);
    } else if (code != ExitCode::ok &&
               !(step == ResticStep::backup && code == ExitCode::findings)) {
        error(code, fmt::format("unable to {}: {}", what, describe_restic_failure(run->result)));
    }
    return std::move(*run);
}

bool DailyJob::backup() {
    auto run = restic(ResticStep::backup, restic_backup_args(m_config, m_host, m_exclude_file),
                      fmt::format("back up {} to {}", m_config.root, m_repository));
    if (!run) {
        return false;
    }
    auto output = parse_backup_output(run->result.out, run->result.err);
    m_attempt.snapshot_id = output.snapshot_id;
    m_attempt.summary = output.summary;
    m_attempt.unreadable = output.unreadable;
    bool incomplete = run->result.exited() && run->result.exit_code() == 3;
    if (incomplete && run->stopped_by == 0) {
        std::vector<std::string> named;
        for (std::size_t i = 0; i < output.unreadable.size() && i < k_paths_in_message; ++i) {
            named.push_back(fmt::format("{}: {}", util::quote_path(output.unreadable[i].path),
                                        output.unreadable[i].message));
        }
        std::string more;
        if (output.unreadable.size() > k_paths_in_message) {
            more = fmt::format(" and {} more (see {})",
                               output.unreadable.size() - k_paths_in_message, m_status_file);
        }
        warning(fmt::format("unable to back up {} path(s), snapshot {} lacks them: {}{}",
                            output.unreadable.size(),
                            output.snapshot_id ? output.snapshot_id->substr(0, 8) : "?",
                            fmt::join(named, "; "), more));
    } else if (run->result.success() && !output.snapshot_id) {
        error(ExitCode::temporary,
              fmt::format("unable to back up {}: restic reported no snapshot ID", m_config.root));
    }
    bool made = run->result.success() || incomplete;
    return made && output.snapshot_id && run->stopped_by == 0;
}

void DailyJob::forget() {
    restic(ResticStep::forget, restic_forget_args(m_config, m_host),
           fmt::format("apply the retention policy to {}", m_repository));
}

void DailyJob::check() {
    auto saved = read_check_rotation(m_check_file);
    if (!saved) {
        warning(fmt::format("{}; starting the rotation again at 1", saved.error().message()));
    }
    CheckRotation rotation =
        current_check_rotation(saved ? *saved : std::nullopt, m_config.check->subsets);
    m_attempt.check_subset = fmt::format("{}/{}", rotation.next, rotation.subsets);
    auto run =
        restic(ResticStep::check, restic_check_args(rotation.next, rotation.subsets),
               fmt::format("check {} (data subset {})", m_repository, *m_attempt.check_subset));
    if (run && run->result.success()) {
        if (auto ok = write_check_rotation(m_check_file, advance_check_rotation(rotation)); !ok) {
            error(ok.error());
        }
    }
}

void DailyJob::remove_leftovers() {
    auto entries = util::read_directory(m_config.state_dir);
    for (const auto& entry : entries.value_or(std::vector<util::DirEntry>{})) {
        if (entry.name.starts_with(k_temp_prefix)) {
            std::error_code ignored;
            std::filesystem::remove_all(std::filesystem::path(m_config.state_dir) / entry.name,
                                        ignored);
        }
    }
}

void DailyJob::write_status() {
    WrapperStatus status;
    status.host = m_host;
    status.repository = m_repository;
    status.last_attempt = m_attempt;
    status.last_success = m_last_success;
    if (auto ok = write_wrapper_status(m_status_file, status); !ok) {
        error(ok.error());
    }
    if (!m_config.prometheus_textfile.empty()) {
        if (auto ok = util::atomic_write(m_config.prometheus_textfile,
                                         render_wrapper_prometheus(status), 0644);
            !ok) {
            error(ok.error());
        }
    }
}

void DailyJob::finish() {
    auto now = util::unix_now();
    m_attempt.finished = now;
    m_attempt.duration_seconds =
        std::chrono::duration<double>(Clock::now() - m_started_steady).count();
    if (auto ok = util::atomic_write(m_config.state_dir + "/last-run.log", m_log, 0600); !ok) {
        error(ok.error());
    }
    m_attempt.exit_code = static_cast<int>(m_code);
    m_attempt.result = std::string(result_name(m_code));
    if (m_code == ExitCode::ok) {
        m_last_success = attempt_to_json(m_attempt);
    }
    // A status file that cannot be written cannot say so itself: that goes to stderr only.
    write_status();
}

ExitCode DailyJob::run() {
    m_attempt.started = util::unix_now();
    auto previous = read_last_success(m_status_file);
    if (previous) {
        m_last_success = *previous;
    } else {
        warning(fmt::format("{}; it is replaced", previous.error().message()));
    }
    write_status(); // "running"; when it fails, the backup still runs
    remove_leftovers();
    bool go = apply_priority() && load_environment();
    if (go) {
        go = write_excludes();
    }
    if (go && !interrupted()) {
        go = run_hooks("before", m_config.before);
    }
    if (go && !interrupted()) {
        go = check_server();
    }
    if (go && m_config.unlock_stale_locks && !interrupted()) {
        auto run = restic(ResticStep::unlock, restic_unlock_args(),
                          fmt::format("open {} (restic unlock)", m_repository));
        go = run && run->result.success();
    }
    if (go && !interrupted()) {
        go = backup();
    }
    if (go && m_config.retention && !interrupted()) {
        forget();
    }
    if (go && m_config.check && !interrupted()) {
        check();
    }
    if (interrupted() && !m_interruption_reported) {
        interruption("unable to finish the daily job", m_stop.first());
    }
    if (m_code != ExitCode::ok) {
        run_hooks("on_failure", m_config.on_failure);
    }
    run_hooks("after", m_config.after);
    m_temp.reset();
    finish();
    for (const auto& w : m_attempt.warnings) {
        util::print_warning(w);
    }
    if (!m_attempt.errors.empty()) {
        util::print_error(util::Error::several(m_code, m_attempt.errors));
    }
    return m_code;
}

} // namespace

util::ExitCode run_daily_job(const DailyJobOptions& options) {
    auto config =
        util::value_or_throw(load_wrapper_config(options.config_file, options.config_required));
    if (!options.state_dir.empty()) {
        config.state_dir = options.state_dir;
    }
    util::value_or_throw(util::make_directories(config.state_dir, 0700));
    auto lock = util::value_or_throw(lock_state_dir(config.state_dir));
    DailyJob job(std::move(config), options);
    return job.run();
}

} // namespace backup::core
