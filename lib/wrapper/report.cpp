#include "wrapper/report.hpp"

#include "util/prometheus.hpp"

namespace backup::core {

std::string render_wrapper_prometheus(const WrapperStatus& status) {
    util::PrometheusText out;
    const std::string& host = status.host;
    auto gauge = [&](std::string_view name, std::string_view help, auto value) {
        out.family(name, "gauge", help);
        out.sample(name, {{"host", host}}, value);
    };
    const AttemptRecord& a = status.last_attempt;
    gauge("restic_wrapper_last_attempt_timestamp_seconds",
          "Start of the last daily job (Unix time).", a.started);
    gauge("restic_wrapper_last_attempt_duration_seconds", "Duration of the last daily job.",
          a.duration_seconds);
    gauge("restic_wrapper_last_exit_code",
          "Exit code of the last daily job (0 ok, 1 findings, 100 permanent, 111 temporary; "
          "-1 while running).",
          std::int64_t{a.exit_code.value_or(-1)});
    gauge("restic_wrapper_running", "1 while a daily job runs.", std::int64_t{a.finished ? 0 : 1});
    if (status.last_success) {
        if (auto finished = attempt_finished(*status.last_success)) {
            gauge("restic_wrapper_last_success_timestamp_seconds",
                  "End of the last daily job that succeeded (Unix time).", *finished);
        }
    }
    if (a.summary) {
        auto number = [&](const char* key) -> std::int64_t {
            auto it = a.summary->find(key);
            return it != a.summary->end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
        };
        gauge("restic_wrapper_last_files_new", "Files new in the last snapshot.",
              number("files_new"));
        gauge("restic_wrapper_last_files_changed", "Files changed in the last snapshot.",
              number("files_changed"));
        gauge("restic_wrapper_last_data_added_bytes",
              "Bytes added to the repository by the last snapshot (before compression).",
              number("data_added"));
    }
    gauge("restic_wrapper_last_unreadable_files",
          "Paths the last backup could not read (missing from its snapshot).",
          static_cast<std::int64_t>(a.unreadable.size()));
    return out.text();
}

} // namespace backup::core
