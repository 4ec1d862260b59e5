// restic-audit: re-hashes a rotating fraction of restic repository files, no password needed.
#include "audit/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::AuditArguments a;
    util::Tool tool("restic-audit");
    core::add_restic_audit_options(tool.app(), a);
    return tool.run(argc, argv, [&] { return core::audit_command(a); });
}
