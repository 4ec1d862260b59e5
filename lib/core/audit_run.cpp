#include "core/audit_run.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <sched.h>
#include <set>
#include <sys/stat.h>
#include <thread>

#include "core/config.hpp"
#include "util/sha256.hpp"

namespace backup::core {

using util::ExitCode;

std::string audit_label_for_path(const fs::path& absolute) {
    std::string name = absolute.filename().string();
    std::string clean;
    for (char c : name) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
        clean += keep ? c : '_';
        if (clean.size() >= 40) {
            break;
        }
    }
    if (clean.empty() || clean.front() == '.') {
        clean.insert(0, "r");
    }
    return fmt::format("path-{}-{}", clean, util::sha256_hex(absolute.string()).substr(0, 12));
}

int default_audit_jobs() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        return std::max(CPU_COUNT(&set), 1);
    }
    return static_cast<int>(std::max(std::thread::hardware_concurrency(), 1U));
}

namespace {

fs::path normalized_absolute(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::absolute(path, ec);
    if (ec) {
        p = path;
    }
    p = p.lexically_normal();
    // "/srv/repo/" names the same directory as "/srv/repo": one label, one state.
    if (p.filename().empty() && p.has_parent_path() && p != p.root_path()) {
        p = p.parent_path();
    }
    return p;
}

bool is_plain_file(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void add_client(const ServerLayout& layout, const std::string& host, const AuditRequest& request,
                AuditTargets& out) {
    ClientPaths paths = layout.client(host);
    auto config = load_client_config(paths.config_file.string());
    if (!config) {
        out.errors.push_back(config.error().with_context(fmt::format("audit client {}", host)));
        return;
    }
    if (config->host != host) {
        out.errors.push_back(util::Error(
            ExitCode::permanent, fmt::format("unable to audit client {}: {} names host '{}'", host,
                                             paths.config_file.string(), config->host)));
        return;
    }
    int length = request.fraction.value_or(config->audit_fraction);
    AuditTarget repo;
    repo.repository = config->repository.string();
    repo.client = host;
    repo.label = "repository";
    repo.state_dir = paths.state;
    repo.cycle_length = length;
    repo.missing_ok = true;
    out.targets.push_back(repo);
    for (const auto& d : config->destinations) {
        if (!d.is_local()) {
            out.notes.push_back(fmt::format(
                "{}: destination {} ({}) not audited: an rclone remote cannot be read here; "
                "audit it where it is stored",
                host, d.name, d.remote));
            continue;
        }
        AuditTarget replica = repo;
        replica.repository = d.path.string();
        replica.label = fmt::format("destination-{}", d.name);
        out.targets.push_back(std::move(replica));
    }
}

} // namespace

util::Expected<AuditTargets> resolve_audit_targets(const AuditRequest& request) {
    AuditTargets out;
    if (!request.paths.empty()) {
        std::set<std::string> seen;
        for (const auto& path : request.paths) {
            fs::path absolute = normalized_absolute(path);
            if (!seen.insert(absolute.string()).second) {
                continue;
            }
            AuditTarget t;
            t.repository = absolute.string();
            t.label = audit_label_for_path(absolute);
            t.state_dir = request.state_dir;
            t.cycle_length = request.fraction.value_or(k_default_audit_fraction);
            out.targets.push_back(std::move(t));
        }
        return out;
    }
    ServerLayout layout(request.root);
    if (!request.client.empty()) {
        if (auto ok = validate_host_name(request.client); !ok) {
            return std::unexpected(ok.error());
        }
        fs::path config = layout.client(request.client).config_file;
        if (!is_plain_file(config)) {
            return util::fail(ExitCode::permanent, "audit client {}: there is no {}",
                              request.client, config.string());
        }
        add_client(layout, request.client, request, out);
        return out;
    }
    std::vector<std::string> hosts;
    std::error_code ec;
    fs::directory_iterator it(layout.systems(), ec);
    if (ec) {
        return util::fail_errno(ec.value(),
                                fmt::format("list the clients in {}", layout.systems().string()));
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) {
            return util::fail_errno(
                ec.value(), fmt::format("list the clients in {}", layout.systems().string()));
        }
        std::string host = it->path().filename().string();
        if (validate_host_name(host) && is_plain_file(layout.client(host).config_file)) {
            hosts.push_back(host);
        }
    }
    std::sort(hosts.begin(), hosts.end());
    for (const auto& host : hosts) {
        add_client(layout, host, request, out);
    }
    if (hosts.empty()) {
        out.notes.push_back(fmt::format("no clients under {}", layout.systems().string()));
    }
    return out;
}

namespace {

void print_line(std::FILE* stream, const std::string& line) {
    std::fputs(fmt::format("{}: {}\n", k_audit_program, line).c_str(), stream);
}

std::string describe_bytes(std::uint64_t bytes) {
    if (bytes >= 1'000'000'000) {
        return fmt::format("{:.2f} GB", static_cast<double>(bytes) / 1e9);
    }
    if (bytes >= 1'000'000) {
        return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
    }
    return fmt::format("{} bytes", bytes);
}

std::string summary(const AuditReport& r) {
    std::string what =
        r.all ? std::string("full pass") : fmt::format("slot {}/{}", r.position, r.cycle_length);
    std::string speed;
    if (r.duration_seconds > 0 && r.bytes_checked > 0) {
        speed = fmt::format(", {:.0f} MB/s",
                            static_cast<double>(r.bytes_checked) / 1e6 / r.duration_seconds);
    }
    std::string left;
    if (r.files_left > 0) {
        left = fmt::format(", {} files left for later", r.files_left);
    }
    return fmt::format("{}: {}: {} of {} files hashed ({}) in {:.1f} s{}{}, {} findings{}",
                       r.target.repository, what, r.files_checked, r.files_listed,
                       describe_bytes(r.bytes_checked), r.duration_seconds, speed, left,
                       r.findings.size(), r.errors.empty() ? "" : ", errors");
}


// The targets in the order of their last run, never-audited ones first, so that under a budget
// one large repository cannot keep the others from ever being audited.
std::vector<AuditTarget> longest_waiting_first(std::vector<AuditTarget> targets) {
    std::vector<std::pair<std::string, std::size_t>> keys;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        std::string last_run;
        if (targets[i].state_dir) {
            auto state = read_audit_state(audit_state_file(targets[i]).string());
            if (state && *state) {
                last_run = (*state)->last_run;
            }
        }
        keys.emplace_back(std::move(last_run), i);
    }
    std::sort(keys.begin(), keys.end());
    std::vector<AuditTarget> sorted;
    for (const auto& key : keys) {
        sorted.push_back(std::move(targets[key.second]));
    }
    return sorted;
}

} // namespace

util::ExitCode run_audit(const AuditRequest& request) {
    if (!request.paths.empty() && !request.client.empty()) {
        throw util::Fatal(util::Error(ExitCode::permanent,
                                      "unable to audit: give either --client or PATHs, not both"));
    }
    if (request.state_dir && request.paths.empty()) {
        throw util::Fatal(util::Error(
            ExitCode::permanent,
            fmt::format("unable to use --state-dir: it is for PATHs; a client's state is in {}",
                        (request.root / "systems" / "HOST" / "state").string())));
    }
    if (request.jobs < 1) {
        throw util::Fatal(util::Error(ExitCode::permanent, "unable to use --jobs: must be >= 1"));
    }
    AuditTargets resolved = util::value_or_throw(resolve_audit_targets(request));

    AuditBudget budget(request.max_bytes, request.max_seconds);
    if (budget.limited()) {
        resolved.targets = longest_waiting_first(std::move(resolved.targets));
    }

    ExitCode code = ExitCode::ok;
    for (const auto& note : resolved.notes) {
        if (!request.quiet) {
            print_line(stdout, fmt::format("note: {}", note));
        }
    }
    for (const auto& error : resolved.errors) {
        util::print_error(k_audit_program, error);
        code = util::worse(code, error.code());
    }
    std::fflush(stdout);

    AuditOptions options;
    options.all = request.all;
    options.jobs = request.jobs;
    options.temporary_grace = request.temporary_grace;
    options.hash = default_hash_function(!request.keep_cache);
    for (const auto& target : resolved.targets) {
        AuditReport report = audit_repository(target, options, budget);
        for (const auto& f : report.findings) {
            print_line(stderr, fmt::format("{}: {}: {}", target.repository, f.path, f.message));
        }
        for (const auto& e : report.errors) {
            util::print_error(k_audit_program, e);
        }
        if (!request.quiet) {
            for (const auto& note : report.notes) {
                print_line(stdout, fmt::format("{}: note: {}", target.repository, note));
            }
            if (!report.skipped) {
                print_line(stdout, summary(report));
            }
        }
        std::fflush(stdout);
        code = util::worse(code, report.exit_code());
    }
    return code;
}

util::ExitCode audit_command(const AuditArguments& arguments) {
    AuditRequest request;
    std::vector<std::string> problems;
    auto note = [&](const util::Error& e) { problems.push_back(e.message()); };
    request.paths = arguments.paths;
    request.client = arguments.client;
    request.root = arguments.root;
    if (!arguments.state_dir.empty()) {
        request.state_dir = arguments.state_dir;
    }
    if (!arguments.fraction.empty()) {
        if (auto n = parse_audit_fraction(arguments.fraction)) {
            request.fraction = *n;
        } else {
            note(n.error());
        }
    }
    request.all = arguments.all;
    request.jobs = arguments.jobs == 0 ? default_audit_jobs() : arguments.jobs;
    if (arguments.jobs < 0 || arguments.jobs > 1024) {
        problems.push_back(
            fmt::format("unable to use --jobs {}: expected 1 to 1024", arguments.jobs));
    }
    if (!arguments.max_bytes.empty()) {
        if (auto n = parse_audit_size(arguments.max_bytes)) {
            request.max_bytes = *n;
        } else {
            note(n.error());
        }
    }
    if (!arguments.max_seconds.empty()) {
        auto d = parse_audit_duration(arguments.max_seconds, "--max-seconds");
        if (d && d->count() > 0) {
            request.max_seconds = *d;
        } else {
            problems.push_back(fmt::format(
                "unable to use --max-seconds '{}': expected a positive number of seconds, "
                "optionally with m, h or d",
                arguments.max_seconds));
        }
    }
    if (!arguments.temporary_grace.empty()) {
        if (auto d = parse_audit_duration(arguments.temporary_grace, "--temp-grace")) {
            request.temporary_grace = *d;
        } else {
            note(d.error());
        }
    }
    request.keep_cache = arguments.keep_cache;
    request.quiet = arguments.quiet;
    if (!problems.empty()) {
        throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return run_audit(request);
}

} // namespace backup::core
