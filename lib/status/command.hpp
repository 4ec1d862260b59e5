// backup-status as a command.
#pragma once

#include <cstdint>
#include <string>

#include "model/defaults.hpp"
#include "util/error.hpp"

namespace backup::core {

struct StatusArguments {
    std::string root{k_default_root};
    bool json = false;      // JSON on stdout instead of the table
    std::string prometheus; // also write a textfile here (atomically)
    std::int64_t now = 0;   // evaluate as of this unix time (tests); 0: the clock
};

// Prints the status of every client; 1 when any needs a person (stale, failing), else 0.
util::ExitCode backup_status_command(const StatusArguments& arguments);

} // namespace backup::core
