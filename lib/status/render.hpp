// backup-status's three outputs of one ServerStatus: a table for people, JSON for programs, and a
// Prometheus textfile for node_exporter.
#pragma once

#include <cstdio>
#include <string>

#include "status/status.hpp"
#include "util/json.hpp"

namespace backup::core {

// A table for people; color marks stale and failing rows (only for a terminal).
std::string render_status_table(const ServerStatus& status, bool color);
util::Json status_to_json(const ServerStatus& status);
// status_to_json(status).dump(2) and a newline, byte for byte, written to file a client at a
// time: the whole document held at once was most of the memory of a run over many clients.
void write_status_json(const ServerStatus& status, std::FILE* file);
// node_exporter textfile collector format; label values are escaped.
std::string render_prometheus(const ServerStatus& status);

} // namespace backup::core
