// new-restic-server as a command: provision a client, or remove, rotate, disable or enable one.
#pragma once

#include <optional>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

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
    bool systemd_unit = false;   // print the systemd unit for the root instead
    std::string stop_helper;     // with systemd_unit: the stop helper's path
    bool append_only = false;    // a new dedicated rest-server client: --append-only
    std::string quota;           // a new dedicated rest-server client: --max-size (a SIZE)
    std::string set_append_only; // "on" or "off" for an existing client
    std::string set_quota;       // a SIZE or "none" for an existing client
    bool renew_certs = false;
    bool rotate_ca = false;
    std::string remote_repository;    // a remote primary: the rclone remote NAME:PATH
    std::string remote_config;        // its rclone config file (else a template to fill in)
    std::optional<int> poll_interval; // seconds between backup-syncd's listings of it
    std::optional<int> event_port;    // backup-syncd's bucket-event listener on 127.0.0.1
};

// Declares the options of new-restic-server on app, into arguments.
void add_new_restic_server_options(CLI::App& app, NewResticServerArguments& arguments);

// Does what the arguments ask and prints what was done, and for a new client the next steps.
// Throws util::Fatal on every error (bad arguments and configuration 100; see the provision
// functions for the rest).
util::ExitCode new_restic_server_command(const NewResticServerArguments& arguments);

} // namespace backup::core
