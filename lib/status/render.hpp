// backup-status's three outputs of one ServerStatus: a table for people, JSON for programs, and a
// Prometheus textfile for node_exporter.
#pragma once

#include <string>

#include "status/status.hpp"
#include "util/json.hpp"

namespace backup::core {

// A table for people; color marks stale and failing rows (only for a terminal).
std::string render_status_table(const ServerStatus& status, bool color);
util::Json status_to_json(const ServerStatus& status);
// node_exporter textfile collector format; label values are escaped.
std::string render_prometheus(const ServerStatus& status);

} // namespace backup::core
