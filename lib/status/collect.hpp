// Inside backup-status: the judging of what collect_status read (judge.cpp).
#pragma once

#include "status/status.hpp"

namespace backup::core {

// Each row's problems from what was read, and each client's state: freshness, services, the
// shared instance it is on, syncs, destinations, audits, certificates, quotas.
void judge_status(ServerStatus& status);

} // namespace backup::core
