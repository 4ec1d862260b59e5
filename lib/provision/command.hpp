// new-restic-server as a command: provision a client, or remove, rotate, disable or enable one.
#pragma once

#include <optional>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace backup::core {

// The command line as given; new_restic_server_command checks the values.
struct NewResticServerArguments {
    std::string host;
    std::optional<int> port;
    std::string server;   // storage server kind: versitygw, rest-server
    std::string topology; // dedicated, shared
    std::string user;
    std::string group;
    std::string config_path{k_default_server_config};
    bool explicit_config = false; // -c given: a missing file is an error
    std::string root;
    std::string address;
    bool remove = false;
    bool delete_data = false;
    bool rotate = false;
    bool disable = false;
    bool enable = false;
    bool systemd_unit = false; // print the systemd unit for the root instead
    std::string stop_helper;   // with systemd_unit: the stop helper's path
};

// Does what the arguments ask and prints what was done, and for a new client the next steps.
// Throws util::Fatal on every error (bad arguments and configuration 100; see the provision
// functions for the rest).
util::ExitCode new_restic_server_command(const NewResticServerArguments& arguments);

} // namespace backup::core
