// new-restic-server: provision, remove, or rotate the keys of a backup client.
#include "provision/command.hpp"
#include "util/cli.hpp"

int main(int argc, char** argv) {
    using namespace backup;
    core::NewResticServerArguments a;
    util::Tool tool("new-restic-server");
    CLI::App& app = tool.app();
    app.add_option("-H,--host", a.host, "the client's host name");
    app.add_option("-p,--port", a.port, "its storage server's port (default: the first free)");
    app.add_option("--server", a.server, "storage server: versitygw or rest-server");
    app.add_option("--topology", a.topology, "dedicated or shared (default dedicated)");
    app.add_option("-U,--user", a.user, "user the client's services run as");
    app.add_option("-G,--group", a.group, "group the client's services run as");
    app.add_option("-c,--config", a.config_path, "server config (/etc/restic-backup/server.yaml)");
    app.add_option("--root", a.root, "server root (default from the config, else /backups)");
    app.add_option("--address", a.address, "address clients connect to");
    app.add_flag("--remove", a.remove, "remove the client (disable it first)");
    app.add_flag("--delete-data", a.delete_data, "with --remove: delete its repository too");
    app.add_flag("--rotate-keys", a.rotate, "make new credentials for the client");
    app.add_flag("--disable", a.disable, "shared client: its credentials stop working");
    app.add_flag("--enable", a.enable, "shared client: undo --disable");
    app.add_flag("--systemd-unit", a.systemd_unit, "print the systemd unit of the root's runsvdir");
    app.add_option("--stop-helper", a.stop_helper, "the unit's stop helper (restic-backup-stop)");
    return tool.run(argc, argv, [&] {
        a.explicit_config = app.count("--config") > 0;
        return core::new_restic_server_command(a);
    });
}
