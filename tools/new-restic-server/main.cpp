// new-restic-server: provision a backup client, or remove, rotate, limit or renew one.
#include "provision/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::NewResticServerArguments a;
    util::Tool tool("new-restic-server");
    core::add_new_restic_server_options(tool.app(), a);
    return tool.run(argc, argv, [&] {
        a.explicit_config = tool.count("--config") > 0;
        return core::new_restic_server_command(a);
    });
}
