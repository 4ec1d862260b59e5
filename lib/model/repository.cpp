#include "model/repository.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "util/dir.hpp"

namespace backup::core {

namespace {

constexpr std::array<bool, 256> k_lower_hex = [] {
    std::array<bool, 256> table{};
    for (char c : std::string_view("0123456789abcdef")) {
        table[static_cast<unsigned char>(c)] = true;
    }
    return table;
}();

} // namespace

// Called for every file of every listing and ledger line: a table and no early exit, which the
// compiler turns into a few vector instructions.
bool is_repository_id(std::string_view name) {
    if (name.size() != 64) {
        return false;
    }
    bool all = true;
    for (char c : name) {
        all &= k_lower_hex[static_cast<unsigned char>(c)];
    }
    return all;
}

RepoFileKind classify_repository_path(std::string_view relative) {
    if (relative == "config") {
        return RepoFileKind::config;
    }
    auto slash = relative.find('/');
    if (slash == std::string_view::npos) {
        return RepoFileKind::other;
    }
    std::string_view dir = relative.substr(0, slash);
    std::string_view rest = relative.substr(slash + 1);
    if (dir == "data") {
        auto inner = rest.find('/');
        if (inner == std::string_view::npos) {
            return is_repository_id(rest) ? RepoFileKind::misplaced_pack : RepoFileKind::other;
        }
        std::string_view sub = rest.substr(0, inner);
        std::string_view name = rest.substr(inner + 1);
        if (!is_repository_id(name)) {
            return RepoFileKind::other;
        }
        return name.substr(0, 2) == sub ? RepoFileKind::pack : RepoFileKind::misplaced_pack;
    }
    if (!is_repository_id(rest)) {
        return RepoFileKind::other;
    }
    if (dir == "keys") {
        return RepoFileKind::key;
    }
    if (dir == "index") {
        return RepoFileKind::index;
    }
    if (dir == "snapshots") {
        return RepoFileKind::snapshot;
    }
    if (dir == "locks") {
        return RepoFileKind::lock;
    }
    return RepoFileKind::other;
}

std::string_view path_file_name(std::string_view relative) {
    auto slash = relative.rfind('/');
    return slash == std::string_view::npos ? relative : relative.substr(slash + 1);
}

std::string_view path_parent(std::string_view relative) {
    auto slash = relative.rfind('/');
    return slash == std::string_view::npos ? std::string_view() : relative.substr(0, slash);
}

bool is_content_addressed(RepoFileKind kind) {
    return kind != RepoFileKind::config && kind != RepoFileKind::other;
}

std::string_view to_string(RepoFileKind kind) {
    switch (kind) {
    case RepoFileKind::config:
        return "config";
    case RepoFileKind::key:
        return "key";
    case RepoFileKind::pack:
        return "pack";
    case RepoFileKind::misplaced_pack:
        return "misplaced pack";
    case RepoFileKind::index:
        return "index";
    case RepoFileKind::snapshot:
        return "snapshot";
    case RepoFileKind::lock:
        return "lock";
    case RepoFileKind::other:
        return "other";
    }
    return "other";
}

std::string_view to_string(ReplicatePhase phase) {
    switch (phase) {
    case ReplicatePhase::keys:
        return "keys";
    case ReplicatePhase::config:
        return "config";
    case ReplicatePhase::data:
        return "data";
    case ReplicatePhase::index:
        return "index";
    case ReplicatePhase::snapshots:
        return "snapshots";
    }
    return "config";
}

std::optional<ReplicatePhase> replicate_phase(RepoFileKind kind) {
    switch (kind) {
    case RepoFileKind::config:
        return ReplicatePhase::config;
    case RepoFileKind::key:
        return ReplicatePhase::keys;
    case RepoFileKind::pack:
        return ReplicatePhase::data;
    case RepoFileKind::index:
        return ReplicatePhase::index;
    case RepoFileKind::snapshot:
        return ReplicatePhase::snapshots;
    case RepoFileKind::misplaced_pack:
    case RepoFileKind::lock:
    case RepoFileKind::other:
        return std::nullopt;
    }
    return std::nullopt;
}

std::string replica_path(ReplicatePhase phase, std::string_view id) {
    switch (phase) {
    case ReplicatePhase::config:
        return "config";
    case ReplicatePhase::data:
        return fmt::format("data/{}/{}", id.substr(0, 2), id);
    case ReplicatePhase::keys:
    case ReplicatePhase::index:
    case ReplicatePhase::snapshots:
        break;
    }
    return fmt::format("{}/{}", to_string(phase), id);
}

util::Expected<std::set<std::string>> list_snapshot_ids(const std::filesystem::path& dir) {
    auto entries = TRY(util::read_directory(dir.string()));
    std::set<std::string> ids;
    for (auto& entry : entries) {
        if (entry.type == util::EntryType::regular && is_repository_id(entry.name)) {
            ids.insert(std::move(entry.name));
        }
    }
    return ids;
}

} // namespace backup::core
