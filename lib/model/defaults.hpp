// The toolkit's defaults, in one place: where things are when nobody says otherwise.
#pragma once

#include <chrono>
#include <string_view>

namespace backup::core {

// --- the backup server -------------------------------------------------------------------------
inline constexpr std::string_view k_default_root = "/backups";
inline constexpr std::string_view k_default_server_config = "/etc/restic-backup/server.yaml";
// The user and group the shared instances (and, with client_users: off, every client) run as.
inline constexpr std::string_view k_default_owner = "restic";
// Each dedicated client's own system user is named this prefix + its host name.
inline constexpr std::string_view k_default_client_user_prefix = "restic-";
// Ports of dedicated and shared storage server instances.
inline constexpr int k_default_port_min = 8100;
inline constexpr int k_default_port_max = 8999;
// restic-audit hashes 1/N of the files per run.
inline constexpr int k_default_audit_fraction = 30;
// restic-replicate holds a run's deletions to a destination that would remove more than this
// share (percent) of its snapshots.
inline constexpr int k_default_hold_deletions_percent = 50;
inline constexpr int k_max_audit_fraction = 10000;
// Temporary names younger than this are no audit finding.
inline constexpr std::chrono::seconds k_default_temporary_grace{24 * 3600};
// Certificates the server's CA issues, and the CA itself, are valid this long.
inline constexpr std::chrono::seconds k_default_certificate_validity{365LL * 86400};
inline constexpr std::chrono::seconds k_default_ca_validity{3650LL * 86400};
// backup-status flags a certificate that expires sooner.
inline constexpr std::chrono::seconds k_certificate_warning{30LL * 86400};
// backup-status calls the sync failing when a snapshot this old is newer than backup-syncd's
// status (which it writes as each sync starts).
inline constexpr std::chrono::seconds k_sync_record_grace{10 * 60};
// Where a client keeps the server's CA certificate (RESTIC_CACERT).
inline constexpr std::string_view k_default_client_ca_file = "/etc/restic/backup-ca.pem";
// backup-status calls a client stale when its newest snapshot is older.
inline constexpr int k_default_expected_interval_hours = 26;
// How often backup-syncd lists a remote primary's snapshots/ (client.yaml poll_interval_seconds).
inline constexpr int k_default_poll_interval_seconds = 60;

// --- the client --------------------------------------------------------------------------------
inline constexpr std::string_view k_default_environ_file = "/etc/restic/environ";
inline constexpr std::string_view k_default_wrapper_config = "/etc/restic/restic-wrapper.yaml";
inline constexpr std::string_view k_default_include_file = "/etc/restic/include-files";
inline constexpr std::string_view k_default_exclude_file = "/etc/restic/exclude-files";
inline constexpr std::string_view k_default_wrapper_state_dir = "/var/lib/restic-wrapper";

} // namespace backup::core
