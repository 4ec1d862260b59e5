#include "unroll/unroll.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "unroll/patterns.hpp"
#include "unroll/tree_path.hpp"
#include "util/text.hpp"

namespace backup::core {

namespace {

using util::ExitCode;
using util::Expected;
using util::quote_path;

struct Resolution {
    std::vector<std::string> spine; // directories entered on the way
    std::vector<std::string> links; // symbolic links followed on the way
    std::string target;             // where the include really is (its last component unfollowed)
    FileType type = FileType::missing;
};

class Resolver {
public:
    Resolver(FileSystemView& fs, std::string root_prefix)
        : m_fs(fs), m_root_prefix(std::move(root_prefix)) {}

    std::string host(const std::string& tree_path) const {
        if (m_root_prefix.empty()) {
            return tree_path;
        }
        return tree_path == "/" ? m_root_prefix : m_root_prefix + tree_path;
    }

    // Walks include as the kernel would (links on the way followed, ".." from a link target
    // taken physically and never above the root), except that its last component is never
    // followed. The error is the reason the include cannot be backed up.
    std::expected<Resolution, std::string> resolve(const std::string& include) {
        Resolution r;
        if (include == "/") {
            r.target = "/";
            r.type = FileType::directory;
            return r;
        }
        std::deque<std::string> todo;
        for (auto part : split_components(include)) {
            todo.emplace_back(part);
        }
        std::string dir = "/";
        r.spine.push_back(dir);
        int hops = 0;
        while (!todo.empty()) {
            std::string name = std::move(todo.front());
            todo.pop_front();
            if (name == ".") {
                continue;
            }
            if (name == "..") {
                dir = parent_of(dir);
                continue;
            }
            std::string path = child_of(dir, name);
            auto type = m_fs.lstat(host(path));
            if (!type) {
                return std::unexpected(type.error().message());
            }
            if (todo.empty()) {
                // The include itself, kept as what it is: restic stores a link as a link.
                if (*type == FileType::missing) {
                    return std::unexpected(fmt::format("{} does not exist", quote_path(path)));
                }
                r.target = std::move(path);
                r.type = *type;
                return r;
            }
            switch (*type) {
            case FileType::missing:
                return std::unexpected(fmt::format("{} does not exist", quote_path(path)));
            case FileType::other:
                return std::unexpected(fmt::format("{} is not a directory", quote_path(path)));
            case FileType::directory:
                dir = path;
                r.spine.push_back(std::move(path));
                break;
            case FileType::symlink: {
                if (++hops > k_max_symlink_hops) {
                    return std::unexpected(
                        fmt::format("too many levels of symbolic links (more than {}) at {}",
                                    k_max_symlink_hops, quote_path(path)));
                }
                auto target = m_fs.readlink(host(path));
                if (!target) {
                    return std::unexpected(target.error().message());
                }
                if (target->empty()) {
                    return std::unexpected(
                        fmt::format("{} is a symbolic link to nothing", quote_path(path)));
                }
                if (target->front() == '/') {
                    dir = "/"; // an absolute target is taken from the root of the tree
                }
                auto parts = split_components(*target);
                for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                    todo.emplace_front(*it);
                }
                r.links.push_back(std::move(path));
                break;
            }
            }
        }
        return std::unexpected(std::string("an empty path")); // unreachable: include != "/"
    }

private:
    FileSystemView& m_fs;
    std::string m_root_prefix;
};

bool has_kept_ancestor(const std::string& path, const std::map<std::string, FileType>& kept,
                       bool include_self) {
    if (include_self && kept.contains(path)) {
        return true;
    }
    std::string at = path;
    while (at != "/") {
        at = parent_of(at);
        if (kept.contains(at)) {
            return true;
        }
    }
    return false;
}

// One unroll(): the steps it names, in order.
class Unroller {
public:
    Unroller(const std::vector<std::string>& includes, FileSystemView& fs, std::string root_prefix)
        : m_includes(includes), m_fs(fs), m_root_prefix(root_prefix),
          m_resolver(fs, std::move(root_prefix)) {}

    Expected<UnrollResult> run() {
        TRY(check_root());
        TRY(check_includes());
        m_result.stats.includes = m_includes.size();
        resolve_includes();
        auto excluded = TRY(read_spine());
        TRY(make_patterns(excluded));
        finish();
        return std::move(m_result);
    }

private:
    // The root itself must be a directory: restic would store a link given as its target as
    // the link alone.
    Expected<void> check_root() {
        FileType type = TRY(m_fs.lstat(m_resolver.host("/")));
        if (type != FileType::directory) {
            return util::fail(ExitCode::permanent, "use {} as the root: {}",
                              quote_path(m_resolver.host("/")),
                              type == FileType::missing   ? "it does not exist"
                              : type == FileType::symlink ? "it is a symbolic link"
                                                          : "it is not a directory");
        }
        return {};
    }

    Expected<void> check_includes() const {
        std::vector<std::string> malformed;
        for (const auto& include : m_includes) {
            bool normal = include == "/" || (include.starts_with('/') && !include.ends_with('/'));
            for (auto part : split_components(include)) {
                normal = normal && part != "." && part != "..";
            }
            if (!normal || include.find("//") != std::string::npos) {
                malformed.push_back(
                    fmt::format("unable to use include {}: not a normalised absolute path",
                                quote_path(include)));
            }
        }
        if (!malformed.empty()) {
            return std::unexpected(util::Error::several(ExitCode::permanent, std::move(malformed)));
        }
        return {};
    }

    void resolve_includes() {
        for (const auto& include : m_includes) {
            auto resolved = m_resolver.resolve(include);
            if (!resolved) {
                m_result.problems.push_back(fmt::format("unable to back up include {}: {}",
                                                        quote_path(include), resolved.error()));
                continue;
            }
            // Only a fully resolved include contributes, so a missing one leaves no empty spine.
            m_spine.insert(resolved->spine.begin(), resolved->spine.end());
            for (auto& link : resolved->links) {
                m_kept.emplace(link, FileType::symlink);
                m_links_on_the_way.insert(std::move(link));
            }
            m_kept[resolved->target] = resolved->type;
        }
        // A directory that is kept itself, or lies below a kept one, is saved whole: never read.
        std::erase_if(m_spine,
                      [&](const std::string& dir) { return has_kept_ancestor(dir, m_kept, true); });
    }

    // The entries of the spine directories that are neither spine nor kept, sorted, so that
    // refusals come in a stable order whatever order readdir gave.
    Expected<std::vector<std::string>> read_spine() {
        std::vector<std::string> excluded;
        for (const auto& dir : m_spine) {
            auto names = TRY(m_fs.list_directory(m_resolver.host(dir)));
            ++m_result.stats.directories_read;
            for (const auto& name : names) {
                std::string path = child_of(dir, name);
                if (!m_spine.contains(path) && !m_kept.contains(path)) {
                    excluded.push_back(std::move(path));
                }
            }
        }
        std::sort(excluded.begin(), excluded.end());
        return excluded;
    }

    // What a wildcard pattern would also match that must be backed up, named; empty for
    // nothing. The first match is named (a spine directory comes before those below it).
    std::string clash_for(const std::vector<ComponentPattern>& parsed) const {
        std::size_t i = 0;
        for (const auto& dir : m_spine) {
            if (leading_components_match(parsed, m_spine_parts[i++], parsed.size())) {
                return quote_path(dir);
            }
        }
        i = 0;
        for (const auto& [kept_path, type] : m_kept) {
            const auto& parts = m_kept_parts[i++];
            if (leading_components_match(parsed, parts, parsed.size())) {
                return quote_path(kept_path);
            }
            if (type == FileType::directory && parts.size() < parsed.size() &&
                leading_components_match(parsed, parts, parts.size())) {
                return fmt::format("what may lie below {}", quote_path(kept_path));
            }
        }
        return {};
    }

    Expected<void> make_patterns(const std::vector<std::string>& excluded) {
        for (const auto& dir : m_spine) {
            m_spine_parts.push_back(split_components(dir));
        }
        for (const auto& entry : m_kept) {
            m_kept_parts.push_back(split_components(entry.first));
        }
        // A wildcard in the root's own components needs no check: restic backs up the root, so
        // the only other paths such a component could match are never seen.
        std::string root_pattern =
            m_root_prefix.empty() ? std::string() : escape_path(m_root_prefix, false).text;
        std::vector<std::string> conflicts;
        for (const auto& path : excluded) {
            ExcludePattern pattern = escape_path(path, true);
            if (pattern.has_wildcard) {
                if (std::string clash = clash_for(parse_pattern(pattern.text)); !clash.empty()) {
                    conflicts.push_back(fmt::format(
                        "unable to exclude {}: its pattern {} would also match {}, which must be "
                        "backed up",
                        quote_path(path), quote_path(root_pattern + pattern.text), clash));
                }
            }
            m_result.excludes.push_back(root_pattern + pattern.text);
        }
        if (!conflicts.empty()) {
            return std::unexpected(util::Error::several(ExitCode::permanent, std::move(conflicts)));
        }
        return {};
    }

    void finish() {
        std::sort(m_result.excludes.begin(), m_result.excludes.end());
        m_result.spine.assign(m_spine.begin(), m_spine.end());
        for (const auto& [path, type] : m_kept) {
            m_result.kept.push_back(path);
        }
        m_result.stats.kept_links = static_cast<std::size_t>(std::count_if(
            m_links_on_the_way.begin(), m_links_on_the_way.end(),
            [&](const std::string& link) { return !has_kept_ancestor(link, m_kept, false); }));
        m_result.stats.spine_directories = m_spine.size();
        m_result.stats.excludes = m_result.excludes.size();
    }

    const std::vector<std::string>& m_includes;
    FileSystemView& m_fs;
    std::string m_root_prefix;
    Resolver m_resolver;
    UnrollResult m_result;
    // "/" is always read: with no include resolved everything is excluded, never nothing.
    std::set<std::string> m_spine{"/"};
    std::map<std::string, FileType> m_kept;
    std::set<std::string> m_links_on_the_way;
    // The spine directories and kept entries split once, for the checks of wildcard patterns.
    std::vector<std::vector<std::string_view>> m_spine_parts;
    std::vector<std::vector<std::string_view>> m_kept_parts;
};

} // namespace

Expected<UnrollResult> unroll(const std::vector<std::string>& includes, const std::string& root,
                              FileSystemView& fs) {
    if (!root.empty() && root.front() != '/') {
        return util::fail(ExitCode::permanent, "use {} as the root: not an absolute path",
                          quote_path(root));
    }
    std::string root_prefix;
    for (auto part : split_components(root)) {
        root_prefix += '/';
        root_prefix += part;
    }
    return Unroller(includes, fs, std::move(root_prefix)).run();
}

} // namespace backup::core
