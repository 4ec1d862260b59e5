// restic-audit: re-hashes a rotating fraction of restic repository files, no password needed.
#include "audit/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::AuditArguments a;
    util::Tool tool("restic-audit");
    CLI::App& app = tool.app();
    app.add_option("PATH", a.paths, "repository directories to audit");
    app.add_option("--client", a.client, "this client's repository and local destinations")
        ->option_text("HOST");
    app.add_option("--root", a.root, "the server root (default /backups)")->option_text("DIR");
    app.add_option("--state-dir", a.state_dir, "state and status of PATHs in DIR")
        ->option_text("DIR");
    app.add_option("--fraction", a.fraction, "hash 1/N of the files per run")->option_text("1/N");
    app.add_flag("--all", a.all, "hash every file (a full audit)");
    app.add_option("-j,--jobs", a.jobs, "hash with N threads (default: the CPUs)")
        ->option_text("N");
    app.add_option("--max-bytes", a.max_bytes, "start no file after SIZE bytes")
        ->option_text("SIZE");
    app.add_option("--max-seconds", a.max_seconds, "start no file after this long")
        ->option_text("DURATION");
    app.add_option("--temp-grace", a.temporary_grace, "age of temporary files that is a finding")
        ->option_text("DURATION");
    app.add_flag("--keep-cache", a.keep_cache, "leave what was read in the page cache");
    app.add_flag("-q,--quiet", a.quiet, "print only findings and errors");
    return tool.run(argc, argv, [&] { return core::audit_command(a); });
}
