// The on-disk layout of a restic repository as a storage server keeps it: which files are
// repository files and what kind each one is. No password needed: only names are read.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

enum class RepoFileKind {
    config,         // "config": the only file not named by its hash
    key,            // keys/<id>
    pack,           // data/<xx>/<id>, xx = the first two characters of id
    misplaced_pack, // data/<yy>/<id> with yy not matching id, or data/<id>
    index,          // index/<id>
    snapshot,       // snapshots/<id>
    lock,           // locks/<id>
    other,          // anything else: temp files of servers and restic, strays
};

// True when name is exactly 64 lowercase hex characters (a SHA-256 in restic's spelling).
bool is_repository_id(std::string_view name);

// Classifies a path relative to the repository root, with '/' separators.
RepoFileKind classify_repository_path(std::string_view relative);

// The last component of a relative repository path: the id of "data/ab/ab12...".
std::string_view path_file_name(std::string_view relative);
// Everything before the last '/' ("data/ab" of "data/ab/ab12..."); empty without one.
std::string_view path_parent(std::string_view relative);

// Whether files of this kind are named by the SHA-256 of their content.
bool is_content_addressed(RepoFileKind kind);

std::string_view to_string(RepoFileKind kind);

// The snapshot IDs in dir (a repository's snapshots/): regular files named by 64 lowercase hex
// characters; temporary names and anything else are ignored. A missing or unreadable directory
// is an error, never "no snapshots".
util::Expected<std::set<std::string>> list_snapshot_ids(const std::filesystem::path& dir);

// The phases of replication (restic-replicate), in the order they run. A destination that has every
// file of the phases before the current one is a valid repository at every moment: restic reads a
// repository through its keys and config, and writes packs (data), then index, then the snapshot
// last.
enum class ReplicatePhase { keys, config, data, index, snapshots };

inline constexpr std::size_t k_replicate_phase_count = 5;
inline constexpr std::array<ReplicatePhase, k_replicate_phase_count> k_replicate_phases = {
    ReplicatePhase::keys, ReplicatePhase::config, ReplicatePhase::data, ReplicatePhase::index,
    ReplicatePhase::snapshots};

// "keys", "config", "data", "index", "snapshots": also the directory names (and ledger keys).
std::string_view to_string(ReplicatePhase phase);
// The position of phase in k_replicate_phases, for arrays indexed by phase.
constexpr std::size_t phase_index(ReplicatePhase phase) {
    return static_cast<std::size_t>(phase);
}

// The phase a file of this kind is copied in; nullopt for files that are never copied: locks,
// misplaced packs and everything that is not a repository file.
std::optional<ReplicatePhase> replicate_phase(RepoFileKind kind);

// The path, relative to the repository, of the file named id in phase: "keys/<id>",
// "data/<first two characters>/<id>", "index/<id>", "snapshots/<id>"; "config" for the config
// phase (id is ignored).
std::string replica_path(ReplicatePhase phase, std::string_view id);

} // namespace backup::core
