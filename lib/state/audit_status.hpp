// What restic-audit's last run over one repository found, for people and backup-status.
//
// File: <state>/audit-<label>.json (label: "repository", "destination-NAME", "path-..."), JSON,
// schema 1:
//   {"schema": 1, "repository", "client" | null, "label", "started", "finished",
//    "duration_seconds", "result": "clean" | "findings" | "error", "exit_code",
//    "mode": "rotation" | "all", "cycle": {"length", "position", "slot_finished",
//    "next_position"}, "files_listed", "files_selected", "files_checked", "bytes_checked",
//    "files_vanished", "files_unreadable", "files_left", "bytes_left", "temporary_files",
//    "findings": [{"path", "kind", "message"}], "errors": [line], "notes": [line],
//    "last_full_coverage": {"started", "finished"} | null}
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/audit_state.hpp"
#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

inline constexpr int k_audit_status_schema = 1;

struct AuditFindingStatus {
    std::string path;
    std::string kind;
    std::string message;
};

struct AuditStatus {
    std::string repository;
    std::optional<std::string> client;
    std::string label;
    std::string started;
    std::string finished;
    double duration_seconds = 0;
    std::string result; // clean, findings, error
    int exit_code = 0;
    std::string mode; // rotation, all
    int cycle_length = 1;
    int position = 0;
    bool slot_finished = false;
    int next_position = 0;
    std::uint64_t files_listed = 0;
    std::uint64_t files_selected = 0;
    std::uint64_t files_checked = 0;
    std::uint64_t bytes_checked = 0;
    std::uint64_t files_vanished = 0;
    std::uint64_t files_unreadable = 0;
    std::uint64_t files_left = 0;
    std::uint64_t bytes_left = 0;
    std::uint64_t temporary_files = 0;
    std::vector<AuditFindingStatus> findings;
    std::vector<std::string> errors;
    std::vector<std::string> notes;
    std::optional<AuditCoverage> last_full_coverage;
};

// The files of one audited repository in a state directory.
std::filesystem::path audit_status_path(const std::filesystem::path& state_dir,
                                        std::string_view label);
std::filesystem::path audit_state_path(const std::filesystem::path& state_dir,
                                       std::string_view label);
std::filesystem::path audit_lock_path(const std::filesystem::path& state_dir,
                                      std::string_view label);
// The labels of the status files in state_dir, sorted; a missing directory has none.
util::Expected<std::vector<std::string>>
audit_status_labels(const std::filesystem::path& state_dir);

util::Json audit_status_to_json(const AuditStatus& status);
util::Expected<AuditStatus> audit_status_from_json(const util::Json& json, std::string_view what);
// The status of label in state_dir; nullopt when there is none. Unreadable: 111; invalid: 100.
util::Expected<std::optional<AuditStatus>> read_audit_status(const std::filesystem::path& state_dir,
                                                             std::string_view label);
util::Expected<void> write_audit_status(const std::filesystem::path& state_dir,
                                        const AuditStatus& status);

} // namespace backup::core
