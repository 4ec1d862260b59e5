#include "wrapper/restic.hpp"

#include <algorithm>
#include <fmt/ranges.h>
#include <map>

namespace backup::core {

namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        out.push_back(line);
        pos = end == std::string_view::npos ? text.size() : end + 1;
    }
    return out;
}

std::optional<util::Json> json_line(std::string_view line) {
    if (line.empty() || line.front() != '{') {
        return std::nullopt;
    }
    auto value = util::Json::parse(line, nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
        return std::nullopt;
    }
    return value;
}

std::string message_type(const util::Json& value) {
    auto it = value.find("message_type");
    return it != value.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string first_line_without_fatal(std::string_view text) {
    auto nl = text.find('\n');
    if (nl != std::string_view::npos) {
        text = text.substr(0, nl);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    if (text.starts_with("Fatal: ")) {
        text.remove_prefix(7);
    }
    return std::string(text);
}

// restic exits 1 for these only when the command line itself is wrong: retrying cannot help.
// Failures no retry can fix: arguments restic rejects, and a server certificate it does not
// trust (a missing or wrong RESTIC_CACERT, a certificate for another name).
constexpr std::string_view k_permanent_errors[] = {
    "unknown flag",
    "unknown shorthand flag",
    "unknown command",
    "invalid argument",
    "invalid backend",
    "x509: certificate signed by unknown",
    "x509: certificate is valid for",
    "tls: failed to verify certificate",
};

} // namespace

std::string_view to_string(ResticStep step) {
    switch (step) {
    case ResticStep::unlock:
        return "unlock";
    case ResticStep::backup:
        return "backup";
    case ResticStep::forget:
        return "forget";
    case ResticStep::check:
        return "check";
    }
    return "?";
}

std::string restic_failure_message(std::string_view err) {
    auto lines = lines_of(err);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (auto value = json_line(*it); value && message_type(*value) == "exit_error") {
            auto msg = value->find("message");
            if (msg != value->end() && msg->is_string()) {
                return first_line_without_fatal(msg->get<std::string>());
            }
        }
    }
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (it->starts_with("Fatal: ")) {
            return first_line_without_fatal(*it);
        }
    }
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (it->find_first_not_of(" \t") != std::string_view::npos) {
            return first_line_without_fatal(*it);
        }
    }
    return {};
}

util::ExitCode map_restic_exit(ResticStep step, const util::ProcessResult& result) {
    using util::ExitCode;
    if (result.timed_out || !result.exited()) {
        return ExitCode::temporary;
    }
    switch (result.exit_code()) {
    case 0:
        return ExitCode::ok;
    case 3:
        return ExitCode::findings;
    case 10:
    case 12:
        return ExitCode::permanent;
    case 11:
    case 130:
        return ExitCode::temporary;
    case 1: {
        std::string message = restic_failure_message(result.err);
        for (auto permanent : k_permanent_errors) {
            if (message.find(permanent) != std::string::npos) {
                return ExitCode::permanent;
            }
        }
        if (step == ResticStep::check &&
            message.find("repository contains errors") != std::string::npos) {
            return ExitCode::findings;
        }
        return ExitCode::temporary;
    }
    default:
        return ExitCode::temporary;
    }
}

std::string describe_restic_failure(const util::ProcessResult& result) {
    if (result.timed_out) {
        std::string last = restic_failure_message(result.err);
        return fmt::format("restic did not finish within the configured timeout and was "
                           "stopped{}",
                           last.empty() ? std::string() : "; its last message: " + last);
    }
    if (!result.exited()) {
        return fmt::format("restic was {}", result.describe());
    }
    std::string message = restic_failure_message(result.err);
    int code = result.exit_code();
    std::string hint;
    if (code == 10) {
        hint = "; create it with 'restic-wrapper init'";
    } else if (code == 11) {
        hint = "; another restic process holds it (see 'restic-wrapper list locks')";
    } else if (code == 12) {
        hint = "; check RESTIC_PASSWORD_FILE in the environ file";
    }
    if (message.empty()) {
        return fmt::format("restic exit status {}{}", code, hint);
    }
    return fmt::format("{} (restic exit status {}){}", message, code, hint);
}

BackupOutput parse_backup_output(std::string_view out, std::string_view err) {
    BackupOutput result;
    static constexpr std::string_view k_summary_fields[] = {
        "files_new",
        "files_changed",
        "files_unmodified",
        "dirs_new",
        "dirs_changed",
        "dirs_unmodified",
        "data_added",
        "data_added_packed",
        "total_files_processed",
        "total_bytes_processed",
        "total_duration",
    };
    for (auto line : lines_of(out)) {
        auto value = json_line(line);
        if (!value || message_type(*value) != "summary") {
            continue;
        }
        util::Json summary = util::Json::object();
        for (auto field : k_summary_fields) {
            auto it = value->find(field);
            if (it != value->end() && it->is_number()) {
                summary[std::string(field)] = *it;
            }
        }
        result.summary = std::move(summary);
        auto id = value->find("snapshot_id");
        if (id != value->end() && id->is_string() && !id->get<std::string>().empty()) {
            result.snapshot_id = id->get<std::string>();
        }
    }
    // restic reports an unreadable directory twice, while scanning and while saving; each path
    // is kept once, with the message of the save when there is one.
    std::map<std::string, std::pair<bool, std::string>> unreadable;
    for (auto line : lines_of(err)) {
        auto value = json_line(line);
        if (!value || message_type(*value) != "error") {
            continue;
        }
        auto item = value->find("item");
        if (item == value->end() || !item->is_string()) {
            continue;
        }
        std::string message;
        if (auto e = value->find("error"); e != value->end() && e->is_object()) {
            if (auto m = e->find("message"); m != e->end() && m->is_string()) {
                message = m->get<std::string>();
            }
        }
        auto during = value->find("during");
        bool archival = during != value->end() && during->is_string() &&
                        during->get<std::string>() == "archival";
        auto [it, inserted] = unreadable.try_emplace(item->get<std::string>(), archival, message);
        if (!inserted && archival && !it->second.first) {
            it->second = {true, message};
        }
    }
    for (auto& [path, entry] : unreadable) {
        result.unreadable.push_back({path, std::move(entry.second)});
    }
    return result;
}

std::vector<std::string> restic_backup_args(const WrapperConfig& config, const std::string& host,
                                            const std::string& exclude_file) {
    std::vector<std::string> args{"--json", "--quiet", "backup", "--host", host};
    for (const auto& tag : config.tags) {
        args.push_back("--tag");
        args.push_back(tag);
    }
    args.push_back("--exclude-file");
    args.push_back(exclude_file);
    args.insert(args.end(), config.backup_flags.begin(), config.backup_flags.end());
    // "--" so that no root could ever be read as a flag.
    args.push_back("--");
    args.push_back(config.root);
    return args;
}

std::vector<std::string> restic_forget_args(const WrapperConfig& config, const std::string& host) {
    std::vector<std::string> args{"--json",
                                  "--quiet",
                                  "forget",
                                  "--host",
                                  host,
                                  "--tag",
                                  fmt::format("{}", fmt::join(config.tags, ","))};
    if (config.retention) {
        for (const auto& [flag, value] : config.retention->keep) {
            args.push_back(flag);
            args.push_back(value);
        }
        if (config.retention->prune) {
            args.push_back("--prune");
        }
        args.insert(args.end(), config.retention->flags.begin(), config.retention->flags.end());
    }
    return args;
}

std::vector<std::string> restic_check_args(int n, int t) {
    return {"--json", "--quiet", "check", "--read-data-subset", fmt::format("{}/{}", n, t)};
}

std::vector<std::string> restic_unlock_args() {
    return {"--json", "--quiet", "unlock"};
}

} // namespace backup::core
