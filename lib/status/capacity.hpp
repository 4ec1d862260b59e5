// backup-status's capacity figures: each repository's and filesystem's growth per day from the
// daily samples (state/capacity_history), and when each filesystem fills at that rate.
#pragma once

#include <chrono>

#include "state/capacity_history.hpp"
#include "status/status.hpp"

namespace backup::core {

// Adds today's samples of status to history, then sets each client's and filesystem's growth
// and each filesystem's full_by from it; a filesystem that fills within fill_warning, or is
// full, gets a problem.
void apply_capacity(ServerStatus& status, CapacityHistory& history,
                    std::chrono::seconds fill_warning);

} // namespace backup::core
