#include "replicate/command.hpp"

#include "model/layout.hpp"
#include "replicate/replicate.hpp"
#include "state/snapshot_ids.hpp"
#include "util/sha256.hpp"

#include <cerrno>
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
    for (std::size_t i = 1; i < command.arguments.size(); ++i) {
        auto d = parse_destination_argument(command.arguments[i]);
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

util::ExitCode replicate_command(const ReplicateCommand& command) {
    ReplicateOptions options;
    options.log = log_line;
    options.rclone.env = util::current_environment();
    options.rclone.program = util::bundled_program("rclone").value_or("rclone");
    ReplicateJob job = command.client.empty() ? one_off_job(command) : client_job(command);
    job.reconcile = command.reconcile;
    auto report = replicate(job, options);
    if (report.error) {
        throw util::Fatal(*report.error);
    }
    return report.exit_code();
}

} // namespace backup::core
