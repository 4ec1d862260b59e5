// What restic-wrapper's daily job asks of restic and how it reads the answers: the command lines
// of each step, restic's exit codes mapped onto the toolkit's table, and the `--json` output of
// `restic backup` (snapshot ID, summary, unreadable paths).
//
// restic's exit codes (restic >= 0.17) and what the daily job makes of them:
//   0   success                                          -> 0
//   3   backup: snapshot made, some source files unreadable -> 1 (findings)
//   10  no repository at the location                    -> 100 (permanent: run init)
//   11  repository locked by another process             -> 111 (temporary)
//   12  wrong password or no key found                   -> 100 (permanent)
//   130 interrupted                                      -> 111 (temporary)
//   1   fatal error: 100 when restic rejected its arguments (unknown flag or command, invalid
//       argument or backend) or the server's certificate (x509: signed by an unknown authority,
//       valid for another name), 1 (findings) when `check` found damage ("repository contains
//       errors"), else 111 (network, server, I/O: retrying may help)
//   any other code, a signal or the wrapper's timeout      -> 111
#pragma once

#include "state/wrapper_status.hpp"
#include "util/error.hpp"
#include "util/json.hpp"
#include "util/process.hpp"
#include "wrapper/config.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

enum class ResticStep { unlock, backup, forget, check };

std::string_view to_string(ResticStep step);

// The toolkit exit code for how a restic command of the given step ended (see the table above).
util::ExitCode map_restic_exit(ResticStep step, const util::ProcessResult& result);

// restic's own explanation of a failure, one line: the message of the `exit_error` JSON line
// on stderr (restic --json), else the last line starting with "Fatal: ", else the last
// non-empty line; "Fatal: " removed, only the first line of a multi-line message. Empty when
// stderr holds nothing.
std::string restic_failure_message(std::string_view err);

// "wrong password or no key found (restic exit status 12)", "restic did not finish within the
// timeout and was stopped", ...: why a step failed, for "unable to <step>: <this>".
std::string describe_restic_failure(const util::ProcessResult& result);

struct BackupOutput {
    std::optional<std::string> snapshot_id;
    // The summary message's counters: files_new, files_changed, files_unmodified, dirs_new,
    // dirs_changed, dirs_unmodified, data_added, data_added_packed, total_files_processed,
    // total_bytes_processed, total_duration (those restic printed).
    std::optional<util::Json> summary;
    std::vector<UnreadablePath> unreadable; // sorted by path, each path once
};

// Reads `restic --json backup` output: the summary message on stdout and the error messages on
// stderr. Lines that are not JSON are skipped.
BackupOutput parse_backup_output(std::string_view out, std::string_view err);

// The restic arguments (after the program name) of each step. All run with --json --quiet.
// backup: --host, one --tag per tag, the exclude file, the configured flags, then the root.
std::vector<std::string> restic_backup_args(const WrapperConfig& config, const std::string& host,
                                            const std::string& exclude_file);
// forget: --host and --tag with the job's tags joined by ',' (restic: snapshots that have all of
// them), the keep-* values, --prune when configured, the configured flags.
std::vector<std::string> restic_forget_args(const WrapperConfig& config, const std::string& host);
// check --read-data-subset n/t.
std::vector<std::string> restic_check_args(int n, int t);
std::vector<std::string> restic_unlock_args();

} // namespace backup::core
