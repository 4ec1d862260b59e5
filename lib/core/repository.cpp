#include "core/repository.hpp"

#include <algorithm>
#include <filesystem>

namespace backup::core {

namespace fs = std::filesystem;

bool is_repository_id(std::string_view name) {
    return name.size() == 64 && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
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

util::Expected<std::vector<RepoFile>> list_repository_files(const std::string& root) {
    std::vector<RepoFile> files;
    std::error_code ec;
    fs::recursive_directory_iterator it(root, ec);
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("list repository {}", root));
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("list repository {}", root));
        }
        auto status = it->symlink_status(ec);
        if (ec == std::errc::no_such_file_or_directory) {
            ec.clear(); // restic makes and removes locks all the time: gone is not an error
            continue;
        }
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("stat {}", it->path().string()));
        }
        if (fs::is_directory(status)) {
            continue;
        }
        std::string relative = it->path().lexically_relative(root).generic_string();
        RepoFileKind kind = fs::is_regular_file(status) ? classify_repository_path(relative)
                                                        : RepoFileKind::other;
        files.push_back({std::move(relative), kind});
    }
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("list repository {}", root));
    }
    std::sort(files.begin(), files.end(),
              [](const RepoFile& a, const RepoFile& b) { return a.relative < b.relative; });
    return files;
}

} // namespace backup::core
