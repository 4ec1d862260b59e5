#include "audit/command.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <sched.h>
#include <thread>

#include "util/text.hpp"

namespace backup::core {

using util::ExitCode;

util::Expected<int> parse_audit_fraction(std::string_view text, std::string_view option) {
    if (text.starts_with("1/")) {
        std::string_view digits = text.substr(2);
        int n = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() &&
            digits.front() != '+' && n >= 1 && n <= k_max_audit_fraction) {
            return n;
        }
    }
    return util::fail(ExitCode::permanent, "use {} '{}': expected 1/N with N from 1 to {}", option,
                      text, k_max_audit_fraction);
}

util::Expected<std::uint64_t> parse_audit_size(std::string_view text, std::string_view option) {
    if (auto size = util::parse_size(text)) {
        return *size;
    }
    return util::fail(ExitCode::permanent,
                      "use {} '{}': expected a positive number of bytes, optionally with K, M, G "
                      "or T (powers of 1024)",
                      option, text);
}

util::Expected<std::chrono::seconds> parse_audit_duration(std::string_view text,
                                                          std::string_view option) {
    if (auto duration = util::parse_duration(text)) {
        return *duration;
    }
    return util::fail(ExitCode::permanent,
                      "use {} '{}': expected a number of seconds, optionally with s, m, h or d",
                      option, text);
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
                       util::format_size(r.bytes_checked), r.duration_seconds, speed, left,
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

void check_request(const AuditRequest& request) {
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
}

void print_report(const AuditRequest& request, const AuditReport& report) {
    const std::string& repository = report.target.repository;
    for (const auto& f : report.findings) {
        std::fputs(
            fmt::format("{}: {}: {}: {}\n", util::program_name(), repository, f.path, f.message)
                .c_str(),
            stderr);
    }
    for (const auto& e : report.errors) {
        util::print_error(e);
    }
    if (!request.quiet) {
        for (const auto& note : report.notes) {
            util::print_event(fmt::format("{}: note: {}", repository, note));
        }
        if (!report.skipped) {
            util::print_event(summary(report));
        }
    }
}

} // namespace

util::ExitCode run_audit(const AuditRequest& request) {
    check_request(request);
    AuditTargets resolved = util::value_or_throw(resolve_audit_targets(request));
    AuditBudget budget(request.max_bytes, request.max_seconds);
    if (budget.limited()) {
        resolved.targets = longest_waiting_first(std::move(resolved.targets));
    }
    ExitCode code = ExitCode::ok;
    for (const auto& note : resolved.notes) {
        if (!request.quiet) {
            util::print_event(fmt::format("note: {}", note));
        }
    }
    for (const auto& error : resolved.errors) {
        util::print_error(error);
        code = util::worse(code, error.code());
    }
    AuditOptions options;
    options.all = request.all;
    options.jobs = request.jobs;
    options.temporary_grace = request.temporary_grace;
    options.hash = default_hash_function(!request.keep_cache);
    for (const auto& target : resolved.targets) {
        AuditReport report = audit_repository(target, options, budget);
        print_report(request, report);
        code = util::worse(code, report.exit_code());
    }
    return code;
}

util::ExitCode audit_command(const AuditArguments& arguments) {
    AuditRequest request;
    std::vector<std::string> problems;
    // Each value is checked; every bad one is reported, together.
    auto take = [&](auto parsed, auto& into) {
        if (parsed) {
            into = *parsed;
        } else {
            problems.push_back(parsed.error().message());
        }
    };
    request.paths = arguments.paths;
    request.client = arguments.client;
    request.root = arguments.root;
    if (!arguments.state_dir.empty()) {
        request.state_dir = arguments.state_dir;
    }
    if (!arguments.fraction.empty()) {
        take(parse_audit_fraction(arguments.fraction), request.fraction);
    }
    request.all = arguments.all;
    request.jobs = arguments.jobs == 0 ? default_audit_jobs() : arguments.jobs;
    if (arguments.jobs < 0 || arguments.jobs > 1024) {
        problems.push_back(
            fmt::format("unable to use --jobs {}: expected 1 to 1024", arguments.jobs));
    }
    if (!arguments.max_bytes.empty()) {
        take(parse_audit_size(arguments.max_bytes), request.max_bytes);
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
        take(parse_audit_duration(arguments.temporary_grace, "--temp-grace"),
             request.temporary_grace);
    }
    request.keep_cache = arguments.keep_cache;
    request.quiet = arguments.quiet;
    if (!problems.empty()) {
        throw util::Fatal(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return run_audit(request);
}

void add_restic_audit_options(CLI::App& app, AuditArguments& arguments) {
    app.add_option("PATH", arguments.paths, "repository directories to audit");
    app.add_option("--client", arguments.client, "this client's repository and local destinations")
        ->option_text("HOST");
    app.add_option("--root", arguments.root, "the server root (default /backups)")
        ->option_text("DIR");
    app.add_option("--state-dir", arguments.state_dir, "state and status of PATHs in DIR")
        ->option_text("DIR");
    app.add_option("--fraction", arguments.fraction, "hash 1/N of the files per run")
        ->option_text("1/N");
    app.add_flag("--all", arguments.all, "hash every file (a full audit)");
    app.add_option("-j,--jobs", arguments.jobs, "hash with N threads (default: the CPUs)")
        ->option_text("N");
    app.add_option("--max-bytes", arguments.max_bytes, "start no file after SIZE bytes")
        ->option_text("SIZE");
    app.add_option("--max-seconds", arguments.max_seconds, "start no file after this long")
        ->option_text("DURATION");
    app.add_option("--temp-grace", arguments.temporary_grace,
                   "age of temporary files that is a finding")
        ->option_text("DURATION");
    app.add_flag("--keep-cache", arguments.keep_cache, "leave what was read in the page cache");
    app.add_flag("-q,--quiet", arguments.quiet, "print only findings and errors");
}

} // namespace backup::core
