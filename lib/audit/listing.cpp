#include "audit/listing.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/dir.hpp"
#include "util/fd.hpp"
#include "util/text.hpp"

namespace backup::core {

using util::ExitCode;

namespace {

// A repository is three levels deep; anything much deeper is not one, and the bound keeps a
// hostile tree from exhausting descriptors or the stack.
constexpr int k_max_depth = 32;

struct Walk {
    const std::string& root;
    std::vector<AuditEntry>& out;
    std::vector<util::Error>* unlisted; // where what cannot be read goes, or nullptr: it fails

    // The error, recorded when the walk goes on past it.
    util::Expected<void> skip(util::Expected<void> error) const {
        if (unlisted == nullptr || error) {
            return error;
        }
        unlisted->push_back(error.error());
        return {};
    }
};

util::Expected<void> walk(const util::Fd& dir, const Walk& w, const std::string& prefix,
                          int depth) {
    const std::string& root = w.root;
    std::string shown = prefix.empty() ? root : fmt::format("{}/{}", root, prefix);
    if (depth > k_max_depth) {
        return util::fail(ExitCode::permanent, "list {}: nested deeper than {} directories", shown,
                          k_max_depth);
    }
    auto names = util::read_directory_fd(dir.get(), shown);
    if (!names) {
        return depth == 0 ? std::unexpected(names.error()) : w.skip(std::unexpected(names.error()));
    }
    for (const auto& name : *names) {
        std::string relative = prefix.empty() ? name.name : fmt::format("{}/{}", prefix, name.name);
        struct stat st {};
        if (::fstatat(dir.get(), name.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                continue; // removed since readdir: a lock, or a pack that prune removed
            }
            TRY(w.skip(util::fail_errno(errno, fmt::format("stat {}/{}", root, relative))));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            util::Fd sub(::openat(dir.get(), name.name.c_str(),
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) {
                if (errno == ENOENT) {
                    continue;
                }
                TRY(w.skip(util::fail_errno(errno, fmt::format("list {}/{}", root, relative))));
                continue;
            }
            TRY(walk(sub, w, relative, depth + 1));
            continue;
        }
        AuditEntry entry;
        entry.regular = S_ISREG(st.st_mode);
        entry.kind = entry.regular ? classify_repository_path(relative) : RepoFileKind::other;
        entry.size = static_cast<std::uint64_t>(st.st_size);
        entry.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
        entry.relative = std::move(relative);
        w.out.push_back(std::move(entry));
    }
    return {};
}

} // namespace

util::Expected<std::vector<AuditEntry>> list_audit_entries(const std::string& root,
                                                           std::vector<util::Error>* unlisted) {
    util::Fd fd = TRY(util::open_fd(root, O_RDONLY | O_DIRECTORY));
    std::vector<AuditEntry> entries;
    TRY(walk(fd, Walk{root, entries, unlisted}, "", 0));
    std::sort(entries.begin(), entries.end(),
              [](const AuditEntry& a, const AuditEntry& b) { return a.relative < b.relative; });
    return entries;
}

bool is_temporary_name(std::string_view relative) {
    if (relative.starts_with(".sgwtmp/") || relative.find("/.sgwtmp/") != std::string_view::npos) {
        return true;
    }
    std::string_view name = path_file_name(relative);
    bool hidden = name.starts_with('.');
    return name.ends_with(".rest-server-temp") || name.find("-tmp-") != std::string_view::npos ||
           name.ends_with(".partial") || (hidden && name.find(".tmp-") != std::string_view::npos) ||
           (hidden && name.find(".sgwtmp.") != std::string_view::npos);
}

std::string_view to_string(FindingKind kind) {
    switch (kind) {
    case FindingKind::hash_mismatch:
        return "hash_mismatch";
    case FindingKind::empty:
        return "empty";
    case FindingKind::misplaced:
        return "misplaced";
    case FindingKind::unexpected:
        return "unexpected";
    case FindingKind::stale_temporary:
        return "stale_temporary";
    case FindingKind::missing_config:
        return "missing_config";
    }
    return "unexpected";
}

namespace {

std::string_view describe_type(const AuditEntry& entry) {
    return entry.regular ? "a regular file" : "not a regular file";
}

} // namespace

ListingCheck check_listing(const std::vector<AuditEntry>& entries, std::int64_t now,
                           std::chrono::seconds grace) {
    ListingCheck check;
    bool has_config = false;
    auto add = [&](const std::string& path, FindingKind kind, std::string message) {
        check.findings.push_back({path, kind, std::move(message)});
    };
    for (const auto& e : entries) {
        switch (e.kind) {
        case RepoFileKind::other: {
            if (!e.regular) {
                add(e.relative, FindingKind::unexpected,
                    "not a repository file: not a regular file (a symlink, FIFO, socket or "
                    "device)");
            } else if (is_temporary_name(e.relative)) {
                std::int64_t age = now - e.mtime;
                if (age < grace.count()) {
                    ++check.temporary;
                } else {
                    add(e.relative, FindingKind::stale_temporary,
                        fmt::format("temporary file left behind: last written {} ago",
                                    util::format_duration(std::chrono::seconds(age))));
                }
            } else {
                add(e.relative, FindingKind::unexpected,
                    fmt::format("not a repository file ({})", describe_type(e)));
            }
            continue;
        }
        case RepoFileKind::config:
            has_config = true;
            break;
        case RepoFileKind::misplaced_pack: {
            std::string_view id = path_file_name(e.relative);
            add(e.relative, FindingKind::misplaced,
                fmt::format("misplaced pack: it belongs in data/{}/", id.substr(0, 2)));
            break;
        }
        default:
            break;
        }
        if (e.size == 0) {
            add(e.relative, FindingKind::empty, "empty file (0 bytes)");
        }
    }
    if (!entries.empty() && !has_config) {
        add("config", FindingKind::missing_config, "missing: every repository has a config file");
    }
    return check;
}

} // namespace backup::core
