// restic-wrapper's daily-job configuration: /etc/restic/restic-wrapper.yaml, optional. Every key
// has a default, so without the file the job does what the original daily script meant:
// `restic backup / --exclude-file <exclude-files + unrolled include-files> --tag daily`.
#pragma once

#include "model/defaults.hpp"
#include "state/wrapper_check.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace backup::core {

// A command run before or after the job: an argv list, never a shell line. argv[0] is looked up
// in PATH unless it holds a '/'.
struct HookCommand {
    std::vector<std::string> argv;
    std::optional<std::int64_t> timeout_seconds; // none: no limit
};

// `restic forget` options (always with --host and the job's tags added, so only this host's
// snapshots of this job are ever removed).
struct Retention {
    // restic flag and value, in the order of k_retention_keys: {"--keep-daily", "7"}, ...
    std::vector<std::pair<std::string, std::string>> keep;
    bool prune = false;
    std::vector<std::string> flags; // further forget flags, e.g. {"--max-unused", "5%"}
};

// `restic check --read-data-subset n/t`, n rotating over the runs so that every t runs read all
// data once.
struct CheckSettings {
    int subsets = 0; // t, 1..k_max_check_subsets
};

enum class IoClass { realtime = 1, best_effort = 2, idle = 3 };

struct IoPriority {
    IoClass io_class = IoClass::best_effort;
    int level = 4; // 0 (highest) .. 7 (lowest); ignored for idle
};

struct WrapperConfig {
    std::string include_file = std::string(k_default_include_file);
    std::string exclude_file = std::string(k_default_exclude_file);
    // The default exclude file may be absent; one named in the configuration must exist.
    bool exclude_file_required = false;
    std::string root = "/"; // what `restic backup` saves; include paths are read below it
    std::string host;       // --host for backup and forget; empty: this machine's host name
    std::vector<std::string> tags{"daily"};
    std::vector<std::string> backup_flags;
    std::string state_dir = std::string(k_default_wrapper_state_dir);
    std::optional<std::int64_t> timeout_seconds; // each restic command; none: no limit
    bool unlock_stale_locks = true;
    std::optional<Retention> retention;
    std::optional<CheckSettings> check;
    std::optional<int> nice; // -20..19
    std::optional<IoPriority> io_priority;
    std::vector<HookCommand> before;
    std::vector<HookCommand> after;      // after every run that held the lock, whatever the result
    std::vector<HookCommand> on_failure; // when the exit code is not 0, before `after`
    std::string prometheus_textfile;     // empty: none
};

// Parses the YAML text of a configuration; file names it in messages. Every problem (unknown
// key, wrong type, bad value) is reported at once as "unable to load configuration
// FILE:LINE: key 'a.b': what" (code 100).
util::Expected<WrapperConfig> parse_wrapper_config(const std::string& text,
                                                   const std::string& file);

// Loads the configuration at path. When required is false and path does not exist, the
// defaults; an unreadable file is an error either way.
util::Expected<WrapperConfig> load_wrapper_config(const std::string& path, bool required);

// Whether text is a restic duration for forget --keep-within* ("1y5m7d2h": numbers each followed
// by y, m, d or h).
bool is_restic_duration(std::string_view text);

} // namespace backup::core
