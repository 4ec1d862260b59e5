// backup-status as a command.
#pragma once

#include <cstdint>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace backup::core {

struct StatusArguments {
    std::string config_path{k_default_server_config};
    bool config_explicit = false; // -c given: the file must exist
    std::string root;             // default: the config's root
    bool json = false;            // JSON on stdout instead of the table
    std::string prometheus;       // also write a textfile here (atomically)
    std::string html;             // also write the status page here (atomically)
    bool notify = false;          // announce changes to status.notify's targets; no table
    std::int64_t now = 0;         // evaluate as of this unix time (tests); 0: the clock
};

// Declares backup-status's options on app, each stored in arguments.
void add_backup_status_options(CLI::App& app, StatusArguments& arguments);

// Prints the status of the server; 1 when anything needs a person, else 0. Records today's
// capacity sample when it may write ROOT/status. With notify, announces what changed (see
// status/notify.hpp) and prints the JSON only when asked, no table: a cron job's output is
// mailed. A config without targets is then an error (100).
util::ExitCode backup_status_command(const StatusArguments& arguments);

} // namespace backup::core
