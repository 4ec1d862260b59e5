// backup-status as a command.
#pragma once

#include <cstdint>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace backup::core {

struct StatusArguments {
    std::string config_path{k_default_server_config};
    bool config_explicit = false; // -c given: the file must exist
    std::string root;             // default: the config's root
    bool json = false;            // JSON on stdout instead of the table
    std::string prometheus;       // also write a textfile here (atomically)
    std::string html;             // also write the status page here (atomically)
    std::int64_t now = 0;         // evaluate as of this unix time (tests); 0: the clock
};

// Prints the status of the server; 1 when anything needs a person, else 0. Records today's
// capacity sample when it may write ROOT/status.
util::ExitCode backup_status_command(const StatusArguments& arguments);

} // namespace backup::core
