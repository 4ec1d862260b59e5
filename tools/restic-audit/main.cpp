// restic-audit: re-hashes a rotating fraction of restic repository files, no password needed.
#include <CLI/CLI.hpp>

#include "core/audit_run.hpp"
#include "util/cli.hpp"

namespace {

constexpr const char* k_description =
    "Verifies restic repositories without their password: every repository file except\n"
    "`config` is named by the SHA-256 of its bytes, so re-hashing a file and comparing the\n"
    "hash with its name finds any damage. Each run hashes one slot of a rotation, 1/N of the\n"
    "files, so that N runs (one a day from cron) verify every file once.\n"
    "\n"
    "What is audited: the repository directories given as PATHs; with --client HOST, that\n"
    "client's repository and its local replica destinations (from\n"
    "ROOT/systems/HOST/conf/client.yaml; rclone remotes are skipped with a note); with\n"
    "neither, every client under ROOT/systems/ that has a conf/client.yaml.\n";

constexpr const char* k_footer =
    "Rotation:\n"
    "  A file's slot is the number its first 16 hex digits spell, modulo N. A run hashes the\n"
    "  files whose slot is the cycle's position, then moves the position on; after N runs\n"
    "  every file was hashed exactly once. Files added later are hashed when their slot next\n"
    "  comes up, within N runs; no listing of earlier runs is kept. N is --fraction, else the\n"
    "  client's audit.fraction, else 30. Changing N starts a new cycle at slot 0. --all hashes\n"
    "  every file in a pass of its own (it does not move the rotation).\n"
    "\n"
    "Checks:\n"
    "  In the slot (or with --all): the content must hash to the file's name. On every run,\n"
    "  from the listing alone: `config` exists and is not empty (it is not content-addressed);\n"
    "  no repository file is empty; a pack sits in data/XX/ with XX its first two characters;\n"
    "  nothing else is there. Temporary names of rest-server (*.rest-server-temp), restic\n"
    "  and restic-replicate (*-tmp-*), rclone (*.partial), versitygw (.sgwtmp/,\n"
    "  .*.sgwtmp.*) and util::atomic_write (.*.tmp-*) are findings only when older than\n"
    "  --temp-grace. A file that vanishes between listing and reading (a lock, a pruned\n"
    "  pack) is not a finding.\n"
    "\n"
    "Reports:\n"
    "  One line per finding on standard error, 'restic-audit: REPO: FILE: what is wrong', and\n"
    "  one line per error, 'restic-audit: error: unable to ...'. Unless --quiet, a summary line\n"
    "  per repository and notes on standard output (with --quiet, cron mails only problems).\n"
    "\n"
    "State and status files (JSON with a \"schema\" number, replaced atomically):\n"
    "  For a client in ROOT/systems/HOST/state/, for PATHs in --state-dir, named\n"
    "  audit-LABEL.state.json (the cycle position and what a budget left over),\n"
    "  audit-LABEL.json (the last run: files and bytes hashed, findings, errors, cycle\n"
    "  position and length, duration, and last_full_coverage, the start and end of the last\n"
    "  completed cycle or --all pass) and audit-LABEL.lock (one run at a time). LABEL is\n"
    "  'repository', 'destination-NAME', or 'path-BASENAME-HASH' for a PATH. A PATH without\n"
    "  --state-dir gets no files: its slot is the day number (UTC) modulo N, so daily runs still\n"
    "  rotate, and nothing is carried over.\n"
    "\n"
    "Budget:\n"
    "  --max-bytes and --max-seconds bound a whole run. Files start in name order while the\n"
    "  budget lasts (the first always starts, a started file is finished); the rest of the slot\n"
    "  is carried over, and the position moves on only once the slot is finished. With a\n"
    "  budget, the repositories that waited longest go first.\n"
    "\n"
    "Exit status 1 means findings; 111 includes a file or repository that could not be read\n"
    "(I/O error, permissions) or a run already holding the lock; 100 bad arguments,\n"
    "configuration or state file.";

} // namespace

int main(int argc, char** argv) {
    using namespace backup;
    CLI::App app(k_description, std::string(core::k_audit_program));
    core::AuditArguments args;
    app.add_option("PATH", args.paths, "repository directories to audit");
    auto* client = app.add_option("--client", args.client,
                                  "audit this client's repository and local destinations")
                       ->option_text("HOST");
    client->excludes("PATH");
    app.add_option("--root", args.root, "the backup server's root directory (default /backups)")
        ->option_text("DIR");
    app.add_option("--state-dir", args.state_dir, "keep the state and status files of PATHs in DIR")
        ->option_text("DIR");
    app.add_option("--fraction", args.fraction,
                   "hash 1/N of the files per run (default: the client's audit.fraction, else 30)")
        ->option_text("1/N");
    app.add_flag("--all", args.all, "hash every file (a full audit)");
    app.add_option("-j,--jobs", args.jobs, "hash with N threads (default: the number of CPUs)")
        ->option_text("N");
    app.add_option("--max-bytes", args.max_bytes,
                   "stop starting files after SIZE bytes this run (K, M, G, T: powers of 1024)")
        ->option_text("SIZE");
    app.add_option("--max-seconds", args.max_seconds,
                   "stop starting files after this long (seconds, or with m, h, d)")
        ->option_text("DURATION");
    app.add_option("--temp-grace", args.temporary_grace,
                   "temporary files younger than this are no finding (default 1d)")
        ->option_text("DURATION");
    app.add_flag("--keep-cache", args.keep_cache,
                 "leave what was read in the page cache (default: drop it once hashed)");
    app.add_flag("-q,--quiet", args.quiet,
                 "print only findings and errors (no summary on standard output)");
    util::describe_tool(app, k_footer);
    return util::run_tool(core::k_audit_program, app, argc, argv,
                          [&] { return core::audit_command(args); });
}
