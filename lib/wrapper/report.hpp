// restic-wrapper's daily job status as a Prometheus textfile (node_exporter's textfile collector).
#pragma once

#include <string>

#include "state/wrapper_status.hpp"

namespace backup::core {

// All gauges labelled host="...": restic_wrapper_last_attempt_timestamp_seconds (start),
// restic_wrapper_last_attempt_duration_seconds, restic_wrapper_last_exit_code (-1 while running),
// restic_wrapper_running, restic_wrapper_last_success_timestamp_seconds (end; absent before the
// first success), restic_wrapper_last_files_new, _files_changed, _data_added_bytes (of the last
// attempt's snapshot, when it made one), restic_wrapper_last_unreadable_files.
std::string render_wrapper_prometheus(const WrapperStatus& status);

} // namespace backup::core
