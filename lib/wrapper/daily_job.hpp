// restic-wrapper's daily job (`restic-wrapper --daily`), for cron or a systemd timer: quiet on
// success, one line per problem on stderr otherwise, the exit code on the toolkit's table, and
// a status file a monitor can read.
//
// A run, in order:
//  1. load the configuration (wrapper_config.hpp); create the state dir (0700);
//  2. take an flock on STATE/lock without waiting: when another daily job holds it, exit 111
//     with one line and touch nothing else (not the repository, not the status file). The
//     kernel drops the lock when a run dies, however it dies;
//  3. write status.json ("running"); apply nice and ionice to this process, so that restic and
//     the hooks inherit them (setpriority(2), ioprio_set(2));
//  4. load the environ file (refused files, and CA files it names that cannot be read: 100);
//     unroll the include file against the live file system (core::unroll, under the configured
//     root) and write the exclude file's patterns plus the unrolled ones to a private file (0600
//     in a 0700 dir STATE/excludes-XXXXXX, removed afterwards, and by the next run when this one
//     was killed); includes that cannot be backed up are warnings (1);
//  5. the before hooks, in order; the first that fails stops the run (111; 100 when it cannot
//     be started);
//  6. for an https repository, a TLS handshake with its server, verified against RESTIC_CACERT
//     (else the system's CAs) and the server's name: a certificate the client does not trust is
//     100 at once, with what the server presented (restic would retry it for 15 minutes, then
//     exit 1); an unreachable server is left to restic;
//     then `restic unlock` (unless unlock_stale_locks is false): removes only stale locks (no
//     refresh for 30 minutes, or made on this host by a process that is gone), never a live one.
//     restic never ignores a stale lock, so an exclusive one left by a killed `prune` would
//     otherwise fail every later backup;
//  7. `restic backup` (wrapper_restic.hpp), then, when it made a snapshot, `restic forget` (when
//     retention is configured) and `restic check --read-data-subset n/t` (when check is
//     configured; n moves on, in STATE/check.json, only after a check that succeeded);
//  8. the on_failure hooks when the exit code is not 0, then the after hooks, whatever the
//     result; their failure makes the exit code at least 1;
//  9. status.json again (last_success moves only when the exit code is 0), the Prometheus
//     textfile when configured, STATE/last-run.log (0600: every command run, how it ended, and
//     its output).
// SIGTERM, SIGINT and SIGHUP stop the command running (TERM, KILL 20 s later), skip the rest of
// 5-7, and the run ends with 111 after step 8 and 9. Each restic command is stopped after the
// configured timeout (111).
#pragma once

#include "util/error.hpp"

#include <string>
#include <string_view>

namespace backup::core {

struct DailyJobOptions {
    std::string environ_file;
    std::string config_file;
    bool config_required = false; // false: a missing config_file means the defaults
    std::string state_dir;        // empty: the configuration's
};

// Runs the daily job; prints the problems as "prog: error: ..." and "prog: warning: ..." lines
// and returns the exit code (0 ok, 1 findings, 100 permanent, 111 temporary). Throws
// util::Fatal, before anything else is touched, for a bad configuration (100), a state dir
// that cannot be made (111) and a lock held by another run (111).
util::ExitCode run_daily_job(const DailyJobOptions& options);

} // namespace backup::core
