#include "replicate/command.hpp"

#include <CLI/CLI.hpp>

#include "model/layout.hpp"
#include "replicate/replicate.hpp"
#include "state/replicate_hold.hpp"
#include "state/snapshot_ids.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>
#include <sys/stat.h>

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// Lowercase letters and digits of target, other runs as one '-', at most 23 characters.
std::string slug_of(std::string_view target) {
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
    slug = slug.substr(0, 23);
    while (!slug.empty() && slug.back() == '-') {
        slug.pop_back();
    }
    return slug;
}

[[noreturn]] void refuse(std::string message) {
    throw util::Fatal(util::Error(ExitCode::permanent, std::move(message)));
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

void log_line(LogLevel level, std::string_view line) {
    switch (level) {
    case LogLevel::info:
        util::print_event(line);
        break;
    case LogLevel::warning:
        util::print_warning(line);
        break;
    case LogLevel::error:
        util::print_error(util::Error(ExitCode::findings, std::string(line)));
        break;
    }
}

// backup-syncd says what changed; the run brings everything up to date anyway.
void log_sync_request(const std::string& appeared_file, const std::string& gone_file) {
    auto appeared = read_snapshot_id_file(appeared_file);
    auto gone = read_snapshot_id_file(gone_file);
    if (!appeared || !gone) {
        log_line(LogLevel::warning,
                 fmt::format("{}; replicating the whole repository anyway",
                             (appeared ? gone.error() : appeared.error()).message()));
        return;
    }
    log_line(LogLevel::info,
             fmt::format("sync request: {} snapshot{} appeared{}, {} went{}", appeared->size(),
                         appeared->size() == 1 ? "" : "s",
                         appeared->empty() ? "" : " (" + short_ids(*appeared) + ")", gone->size(),
                         gone->empty() ? "" : " (" + short_ids(*gone) + ")"));
}

// The job of a client: its repository and destinations from its client.yaml.
ReplicateJob client_job(const ReplicateCommand& command) {
    util::value_or_throw(validate_host_name(command.client));
    if (!command.state_dir.empty()) {
        refuse("unable to use --state-dir with --client: a client's state is in "
               "ROOT/systems/HOST/state");
    }
    if (!command.keep_deleted.empty()) {
        refuse("unable to use --keep-deleted with --client: a client's destinations have their "
               "keep_deleted in its client.yaml");
    }
    if (command.arguments.size() != 0 && command.arguments.size() != 2) {
        refuse("unable to parse arguments: with --client, give no arguments or backup-syncd's "
               "APPEARED_FILE GONE_FILE");
    }
    ClientPaths paths = ServerLayout(command.root).client(command.client);
    struct stat st {};
    if (::stat(paths.config_file.c_str(), &st) != 0 && errno == ENOENT) {
        refuse(fmt::format("unable to read {}: no such file (is {} provisioned on this server?)",
                           paths.config_file.string(), command.client));
    }
    auto config = util::value_or_throw(load_client_config(paths.config_file.string()));
    if (config.host != command.client) {
        refuse(fmt::format("unable to use {}: it is the configuration of {}, not of {}",
                           paths.config_file.string(), config.host, command.client));
    }
    ReplicateJob job;
    job.source = config.repository.string();
    if (config.is_remote()) {
        // A remote primary: read with the client's own rclone config when it has one.
        job.source = config.remote_repository;
        job.source_is_remote = true;
        if (::stat(paths.rclone_config.c_str(), &st) == 0) {
            job.source_rclone_config = paths.rclone_config.string();
        }
    }
    job.client = command.client;
    job.state_dir = paths.state;
    for (const auto& d : config.destinations) {
        job.destinations.push_back({d, d.name});
    }
    if (command.arguments.size() == 2) {
        log_sync_request(command.arguments[0], command.arguments[1]);
    }
    return job;
}

// A one-off job: SOURCE_DIR DEST... from the command line.
ReplicateJob one_off_job(const ReplicateCommand& command) {
    if (command.arguments.size() < 2) {
        refuse("unable to parse arguments: give --client HOST, or SOURCE_DIR and at least one "
               "DEST");
    }
    ReplicateJob job;
    std::error_code ec;
    job.source = fs::absolute(command.arguments[0], ec).lexically_normal().string();
    if (job.source.size() > 1 && job.source.back() == '/') {
        job.source.pop_back();
    }
    std::set<std::string> names;
    std::vector<std::string> problems;
    std::optional<std::optional<std::chrono::seconds>> keep;
    if (!command.keep_deleted.empty()) {
        keep = parse_keep_deleted(command.keep_deleted);
        if (!keep) {
            refuse(fmt::format("unable to use --keep-deleted {}: expected 'forever' or a duration "
                               "such as 12h or 4d",
                               command.keep_deleted));
        }
    }
    for (std::size_t i = 1; i < command.arguments.size(); ++i) {
        auto d = parse_destination_argument(command.arguments[i]);
        if (d && keep) {
            d->keep_deleted = *keep;
        }
        if (!d) {
            problems.push_back(d.error().message());
        } else if (!names.insert(d->name).second) {
            problems.push_back(
                fmt::format("unable to use destination '{}': given twice", command.arguments[i]));
        } else {
            std::string label = d->is_local() ? d->path.string() : d->remote;
            job.destinations.push_back({std::move(*d), std::move(label)});
        }
    }
    if (!problems.empty()) {
        throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    if (!command.state_dir.empty()) {
        job.state_dir = fs::absolute(command.state_dir, ec);
    }
    return job;
}

} // namespace

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
    std::string slug = slug_of(target);
    std::string hash = util::sha256_hex(target).substr(0, 8);
    d.name = slug.empty() ? hash : fmt::format("{}-{}", slug, hash);
    TRY(validate_destination(d));
    return d;
}

namespace {

// --now: unix seconds or a UTC time.
std::int64_t parse_now(const std::string& text) {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec == std::errc() && end == text.data() + text.size() && seconds >= 0) {
        return seconds;
    }
    if (auto time = util::parse_unix_time(text)) {
        return *time;
    }
    refuse(fmt::format("unable to use --now {}: expected unix seconds or a UTC time like "
                       "2024-05-01T03:00:00Z",
                       text));
}

// The state directory and the destination name DEST stands for, for --hold-deletions and
// --release-deletions.
std::pair<std::string, std::string> hold_target(const ReplicateCommand& command,
                                                const std::string& dest) {
    if (!command.arguments.empty()) {
        refuse("unable to parse arguments: --hold-deletions and --release-deletions take no "
               "other arguments");
    }
    if (command.client.empty()) {
        if (command.state_dir.empty()) {
            refuse("unable to change a hold: give --client HOST, or --state-dir DIR for a "
                   "one-off destination");
        }
        auto d = util::value_or_throw(parse_destination_argument(dest));
        return {command.state_dir, d.name};
    }
    ReplicateCommand as_run = command;
    as_run.hold_deletions.clear();
    as_run.release_deletions.clear();
    ReplicateJob job = client_job(as_run);
    for (const auto& target : job.destinations) {
        if (target.destination.name == dest) {
            return {job.state_dir->string(), dest};
        }
    }
    refuse(fmt::format("unable to change the hold of {}: {} has no such destination", dest,
                       command.client));
}

util::ExitCode change_hold(const ReplicateCommand& command) {
    bool freeze = !command.hold_deletions.empty();
    if (freeze == !command.release_deletions.empty()) {
        refuse("unable to parse arguments: give one of --hold-deletions and --release-deletions");
    }
    auto [state_dir, name] =
        hold_target(command, freeze ? command.hold_deletions : command.release_deletions);
    std::string path = replica_hold_path(state_dir, name);
    if (freeze) {
        util::value_or_throw(util::make_directories(
            (fs::path(state_dir) / std::string(k_replicate_state_subdir)).string(), 0700));
        util::value_or_throw(write_replica_hold(path, {name, util::format_time(util::now())}));
        util::print_event(
            fmt::format("{}: deletions frozen until --release-deletions {}", name, name));
    } else {
        bool was = util::value_or_throw(remove_replica_hold(path));
        util::print_event(fmt::format("{}: {}", name,
                                      was ? "deletions released: due ones run at the next run"
                                          : "its deletions were not frozen"));
    }
    return ExitCode::ok;
}

// --confirm-deletions names destinations of the job.
void check_confirmed(const ReplicateJob& job, const std::vector<std::string>& names) {
    for (const auto& name : names) {
        bool known = std::any_of(job.destinations.begin(), job.destinations.end(),
                                 [&](const auto& t) { return t.destination.name == name; });
        if (!known) {
            refuse(fmt::format("unable to confirm the deletions of {}: no destination of this "
                               "run has that name",
                               name));
        }
    }
}

// backup-syncd's listing mode runs its sync command with RCLONE_CONFIG naming the client's
// rclone config, which is the primary's: the destinations' rclone must not take it for its own
// (their remotes are in rclone's default config or RCLONE_CONFIG_<NAME>_* variables).
void keep_source_config_apart(const ReplicateJob& job, util::Environment& env) {
    auto it = env.find("RCLONE_CONFIG");
    std::error_code ec;
    if (job.source_is_remote && !job.source_rclone_config.empty() && it != env.end() &&
        fs::equivalent(it->second, job.source_rclone_config, ec)) {
        env.erase(it);
    }
}

} // namespace

util::ExitCode replicate_command(const ReplicateCommand& command) {
    if (!command.hold_deletions.empty() || !command.release_deletions.empty()) {
        return change_hold(command);
    }
    ReplicateOptions options;
    options.log = log_line;
    options.rclone.env = util::current_environment();
    options.rclone.program = util::bundled_program("rclone").value_or("rclone");
    if (!command.now.empty()) {
        options.now = parse_now(command.now);
    }
    ReplicateJob job = command.client.empty() ? one_off_job(command) : client_job(command);
    keep_source_config_apart(job, options.rclone.env);
    job.reconcile = command.reconcile;
    check_confirmed(job, command.confirm_deletions);
    job.confirm_deletions.insert(command.confirm_deletions.begin(),
                                 command.confirm_deletions.end());
    auto report = replicate(job, options);
    if (report.error) {
        throw util::Fatal(*report.error);
    }
    return report.exit_code();
}

void add_restic_replicate_options(CLI::App& app, ReplicateCommand& arguments) {
    app.add_option("--client", arguments.client, "replicate this client (its client.yaml)")
        ->option_text("HOST");
    app.add_option("--root", arguments.root, "the server root (default /backups)")
        ->option_text("DIR");
    app.add_option("--state-dir", arguments.state_dir,
                   "one-off runs: ledgers, lock and status in DIR")
        ->option_text("DIR");
    app.add_flag("--reconcile", arguments.reconcile,
                 "list every destination and the whole source, repair the ledgers");
    app.add_option("--keep-deleted", arguments.keep_deleted,
                   "one-off runs: forever, or a duration (4d)")
        ->option_text("D");
    app.add_option("--confirm-deletions", arguments.confirm_deletions, "run DEST's held deletions")
        ->allow_extra_args(false)
        ->option_text("DEST");
    app.add_option("--hold-deletions", arguments.hold_deletions,
                   "freeze DEST's deletions, then exit")
        ->option_text("DEST");
    app.add_option("--release-deletions", arguments.release_deletions, "unfreeze DEST's deletions")
        ->option_text("DEST");
    app.add_option("--now", arguments.now, "use this time (unix seconds; for tests)")->group("");
    app.add_option("ARGS", arguments.arguments, "APPEARED_FILE GONE_FILE, or SOURCE_DIR DEST...");
}

} // namespace backup::core
