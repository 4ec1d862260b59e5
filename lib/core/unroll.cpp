#include "core/unroll.hpp"

#include "util/fd.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

namespace {

using util::ExitCode;
using util::Expected;

// --- UTF-8 as Go decodes it -------------------------------------------------------------------

// restic is written in Go: its '?' matches one rune as utf8.DecodeRuneInString sees it, and its
// line trimming decodes the last rune as utf8.DecodeLastRuneInString does. Both treat any byte
// that does not start a valid, shortest-form, non-surrogate sequence as a rune of length 1.
struct Rune {
    char32_t value = 0;
    std::size_t size = 1;
    bool valid = false;
};

Rune decode_rune(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) {
        return {c, 1, true};
    }
    std::size_t size = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    char32_t value = 0;
    if (c >= 0xc2 && c <= 0xdf) {
        size = 2;
        value = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        size = 3;
        value = c & 0x0fu;
        low = c == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
        high = c == 0xed ? 0x9f : 0xbf; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        size = 4;
        value = c & 0x07u;
        low = c == 0xf0 ? 0x90 : 0x80;
        high = c == 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
    } else {
        return {};
    }
    if (i + size > s.size()) {
        return {};
    }
    for (std::size_t k = 1; k < size; ++k) {
        unsigned char next = byte(i + k);
        unsigned char lo = k == 1 ? low : 0x80;
        unsigned char hi = k == 1 ? high : 0xbf;
        if (next < lo || next > hi) {
            return {};
        }
        value = (value << 6) | (next & 0x3fu);
    }
    return {value, size, true};
}

// The start of the last rune of s (non-empty), as utf8.DecodeLastRuneInString finds it.
std::size_t last_rune_start(std::string_view s) {
    std::size_t end = s.size();
    if (static_cast<unsigned char>(s[end - 1]) < 0x80) {
        return end - 1;
    }
    std::size_t limit = end >= 4 ? end - 4 : 0;
    std::size_t start = end - 1;
    while (start > limit && (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80) {
        --start;
    }
    Rune rune = decode_rune(s, start);
    return rune.valid && start + rune.size == end ? start : end - 1;
}

// unicode.IsSpace: the characters strings.TrimSpace removes.
bool is_go_space(char32_t r) {
    switch (r) {
    case U'\t':
    case U'\n':
    case U'\v':
    case U'\f':
    case U'\r':
    case U' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200a;
    }
}

// --- paths ------------------------------------------------------------------------------------

std::vector<std::string_view> split_components(std::string_view path) {
    std::vector<std::string_view> parts;
    std::size_t pos = 0;
    while (pos <= path.size()) {
        std::size_t end = path.find('/', pos);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        if (end > pos) {
            parts.push_back(path.substr(pos, end - pos));
        }
        pos = end + 1;
    }
    return parts;
}

std::string child_of(const std::string& dir, std::string_view name) {
    std::string out = dir == "/" ? std::string() : dir;
    out += '/';
    out += name;
    return out;
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
}

// --- patterns ---------------------------------------------------------------------------------

// One component of a pattern: literal bytes, or a wildcard standing for exactly one rune.
struct Token {
    bool wildcard = false;
    char byte = 0;
};
using ComponentPattern = std::vector<Token>;

// A pattern written by escape_path(), split back into components.
std::vector<ComponentPattern> parse_pattern(std::string_view pattern) {
    std::vector<ComponentPattern> components;
    ComponentPattern current;
    bool started = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '/') {
            if (started) {
                components.push_back(std::move(current));
                current.clear();
            }
            started = true;
        } else if (c == '\\' && i + 1 < pattern.size()) {
            current.push_back({false, pattern[++i]});
        } else if (c == '?') {
            current.push_back({true, 0});
        } else {
            current.push_back({false, c});
        }
    }
    if (started && !current.empty()) {
        components.push_back(std::move(current));
    }
    return components;
}

bool component_matches(const ComponentPattern& pattern, std::string_view name) {
    std::size_t at = 0;
    for (const Token& token : pattern) {
        if (at >= name.size()) {
            return false;
        }
        if (token.wildcard) {
            at += decode_rune(name, at).size;
        } else if (name[at] != token.byte) {
            return false;
        } else {
            ++at;
        }
    }
    return at == name.size();
}

// Whether the first count components of pattern match the first count of path.
bool leading_components_match(const std::vector<ComponentPattern>& pattern,
                              const std::vector<std::string_view>& path, std::size_t count) {
    if (count > pattern.size() || count > path.size()) {
        return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (!component_matches(pattern[i], path[i])) {
            return false;
        }
    }
    return true;
}

void escape_bytes(std::string_view bytes, ExcludePattern& out) {
    for (char c : bytes) {
        switch (c) {
        case '*':
        case '?':
        case '[':
        case ']':
        case '\\':
            out.text += '\\';
            out.text += c;
            break;
        case '\n': // restic reads the file line by line
        case '$':  // restic expands $VAR and ${VAR}; "$$" is not understood by every version
            out.text += '?';
            out.has_wildcard = true;
            break;
        default:
            out.text += c;
        }
    }
}

// Escapes path; line_end says whether the path ends the line (so its trailing white space
// would be trimmed by restic).
ExcludePattern escape_path(std::string_view path, bool line_end) {
    ExcludePattern out;
    auto components = split_components(path);
    if (components.empty()) {
        out.text = "/";
        return out;
    }
    for (std::size_t i = 0; i < components.size(); ++i) {
        std::string_view name = components[i];
        out.text += '/';
        if (line_end && i + 1 == components.size()) {
            std::size_t start = last_rune_start(name);
            Rune last = decode_rune(name, start);
            if (last.valid && start + last.size == name.size() && is_go_space(last.value)) {
                escape_bytes(name.substr(0, start), out);
                out.text += '?';
                out.has_wildcard = true;
                continue;
            }
        }
        escape_bytes(name, out);
    }
    return out;
}

// --- resolving includes -----------------------------------------------------------------------

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

struct CloseDir {
    void operator()(DIR* dir) const { ::closedir(dir); }
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

} // namespace

// --- include list ------------------------------------------------------------------------------

Expected<std::vector<std::string>> parse_include_list(std::string_view text,
                                                      std::string_view source_name) {
    std::vector<std::string> problems;
    std::set<std::string> paths;
    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_number;
        std::size_t first = line.find_first_not_of(" \t\r\v\f");
        if (first == std::string_view::npos || line[first] == '#') {
            continue;
        }
        auto problem = [&](std::string_view what) {
            problems.push_back(fmt::format("unable to use line {} of include list {}: {} {}",
                                           line_number, source_name, quote_path(line), what));
        };
        if (line.find('\0') != std::string_view::npos) {
            problem("holds a NUL byte");
            continue;
        }
        if (line.front() != '/') {
            problem("is not an absolute path");
            continue;
        }
        std::string normal;
        bool parent = false;
        for (auto part : split_components(line)) {
            if (part == "..") {
                parent = true;
            } else if (part != ".") {
                normal += '/';
                normal += part;
            }
        }
        if (parent) {
            problem("has a '..' component");
            continue;
        }
        paths.insert(normal.empty() ? std::string("/") : normal);
    }
    if (problems.empty() && paths.empty()) {
        problems.push_back(fmt::format(
            "unable to use include list {}: it names no path (only blank lines and comments)",
            source_name));
    }
    if (!problems.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return std::vector<std::string>(paths.begin(), paths.end());
}

// --- RealFileSystem ----------------------------------------------------------------------------

Expected<std::vector<std::string>> RealFileSystem::list_directory(const std::string& path) {
    // O_NOFOLLOW: a spine directory was seen as a directory; a link swapped in since then must
    // not lead the listing elsewhere.
    auto fd = util::open_fd(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    ++m_directories_opened;
    std::unique_ptr<DIR, CloseDir> dir(::fdopendir(fd->get()));
    if (!dir) {
        return util::fail_errno(errno, fmt::format("read directory {}", path));
    }
    fd->release(); // owned by dir now
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        const dirent* entry = ::readdir(dir.get());
        if (entry == nullptr) {
            if (errno != 0) {
                return util::fail_errno(errno, fmt::format("read directory {}", path));
            }
            break;
        }
        std::string_view name(entry->d_name);
        if (name != "." && name != "..") {
            names.emplace_back(name);
        }
    }
    return names;
}

Expected<FileType> RealFileSystem::lstat(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            return FileType::missing;
        }
        return util::fail_errno(errno, fmt::format("look up {}", path));
    }
    if (S_ISDIR(st.st_mode)) {
        return FileType::directory;
    }
    if (S_ISLNK(st.st_mode)) {
        return FileType::symlink;
    }
    return FileType::other;
}

Expected<std::string> RealFileSystem::readlink(const std::string& path) {
    std::string buffer(256, '\0');
    for (;;) {
        ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size());
        if (n < 0) {
            return util::fail_errno(errno, fmt::format("read symbolic link {}", path));
        }
        if (static_cast<std::size_t>(n) < buffer.size()) {
            buffer.resize(static_cast<std::size_t>(n));
            return buffer;
        }
        buffer.resize(buffer.size() * 2); // possibly truncated: try again with more room
    }
}

// --- patterns ----------------------------------------------------------------------------------

ExcludePattern exclude_pattern(std::string_view absolute_path) {
    return escape_path(absolute_path, true);
}

bool pattern_matches(std::string_view pattern, std::string_view absolute_path) {
    auto parsed = parse_pattern(pattern);
    auto path = split_components(absolute_path);
    return leading_components_match(parsed, path, parsed.size());
}

std::string render_excludes(const UnrollResult& result) {
    std::string out;
    for (const auto& pattern : result.excludes) {
        out += pattern;
        out += '\n';
    }
    return out;
}

std::string quote_path(std::string_view path) {
    std::string out = "\"";
    std::size_t i = 0;
    while (i < path.size()) {
        unsigned char c = static_cast<unsigned char>(path[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (c >= 0x80) {
            Rune rune = decode_rune(path, i);
            if (!rune.valid) {
                out += fmt::format("\\x{:02x}", c);
            } else {
                out += path.substr(i, rune.size);
                i += rune.size;
                continue;
            }
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    out += '"';
    return out;
}

// --- unroll ------------------------------------------------------------------------------------

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
    Resolver resolver(fs, root_prefix);

    // The root itself must be a directory: restic would store a link given as its target as
    // the link alone.
    auto root_type = fs.lstat(resolver.host("/"));
    if (!root_type) {
        return std::unexpected(root_type.error());
    }
    if (*root_type != FileType::directory) {
        return util::fail(ExitCode::permanent, "use {} as the root: {}",
                          quote_path(resolver.host("/")),
                          *root_type == FileType::missing   ? "it does not exist"
                          : *root_type == FileType::symlink ? "it is a symbolic link"
                                                            : "it is not a directory");
    }

    std::vector<std::string> malformed;
    for (const auto& include : includes) {
        bool normal = include == "/" || (include.starts_with('/') && !include.ends_with('/'));
        for (auto part : split_components(include)) {
            normal = normal && part != "." && part != "..";
        }
        if (!normal || include.find("//") != std::string::npos) {
            malformed.push_back(fmt::format("unable to use include {}: not a normalised absolute "
                                            "path",
                                            quote_path(include)));
        }
    }
    if (!malformed.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(malformed)));
    }

    UnrollResult result;
    result.stats.includes = includes.size();
    // "/" is always read: with no include resolved everything is excluded, never nothing.
    std::set<std::string> spine{"/"};
    std::map<std::string, FileType> kept;
    std::set<std::string> links_on_the_way;
    for (const auto& include : includes) {
        auto resolved = resolver.resolve(include);
        if (!resolved) {
            result.problems.push_back(fmt::format("unable to back up include {}: {}",
                                                  quote_path(include), resolved.error()));
            continue;
        }
        // Only a fully resolved include contributes, so a missing one leaves no empty spine.
        spine.insert(resolved->spine.begin(), resolved->spine.end());
        for (auto& link : resolved->links) {
            kept.emplace(link, FileType::symlink);
            links_on_the_way.insert(std::move(link));
        }
        kept[resolved->target] = resolved->type;
    }
    // A directory that is kept itself, or lies below a kept one, is saved whole: never read.
    std::erase_if(spine,
                  [&](const std::string& dir) { return has_kept_ancestor(dir, kept, true); });

    std::vector<std::string> excluded;
    for (const auto& dir : spine) {
        auto names = fs.list_directory(resolver.host(dir));
        if (!names) {
            return std::unexpected(names.error());
        }
        ++result.stats.directories_read;
        for (const auto& name : *names) {
            std::string path = child_of(dir, name);
            if (!spine.contains(path) && !kept.contains(path)) {
                excluded.push_back(std::move(path));
            }
        }
    }

    // Spine directories and kept entries, split once, for the checks of wildcard patterns.
    // Sorted, so that refusals come in a stable order whatever order readdir gave.
    std::sort(excluded.begin(), excluded.end());
    std::vector<std::string> spine_list(spine.begin(), spine.end());
    std::vector<std::vector<std::string_view>> spine_parts;
    for (const auto& dir : spine_list) {
        spine_parts.push_back(split_components(dir));
    }
    std::vector<const std::pair<const std::string, FileType>*> kept_list;
    std::vector<std::vector<std::string_view>> kept_parts;
    for (const auto& entry : kept) {
        kept_list.push_back(&entry);
        kept_parts.push_back(split_components(entry.first));
    }
    std::vector<std::string> conflicts;
    // A wildcard in the root's own components needs no check: restic backs up the root, so the
    // only other paths such a component could match are never seen.
    ExcludePattern root_pattern = escape_path(root_prefix, false);
    if (root_prefix.empty()) {
        root_pattern.text.clear();
    }
    for (const auto& path : excluded) {
        ExcludePattern pattern = escape_path(path, true);
        if (pattern.has_wildcard) {
            auto parsed = parse_pattern(pattern.text);
            // The first match is named (a spine directory comes before those below it).
            std::string clash;
            for (std::size_t i = 0; clash.empty() && i < spine_parts.size(); ++i) {
                if (leading_components_match(parsed, spine_parts[i], parsed.size())) {
                    clash = quote_path(spine_list[i]);
                }
            }
            for (std::size_t i = 0; clash.empty() && i < kept_list.size(); ++i) {
                const auto& [kept_path, type] = *kept_list[i];
                const auto& parts = kept_parts[i];
                if (leading_components_match(parsed, parts, parsed.size())) {
                    clash = quote_path(kept_path);
                } else if (type == FileType::directory && parts.size() < parsed.size() &&
                           leading_components_match(parsed, parts, parts.size())) {
                    clash = fmt::format("what may lie below {}", quote_path(kept_path));
                }
            }
            if (!clash.empty()) {
                conflicts.push_back(fmt::format(
                    "unable to exclude {}: its pattern {} would also match {}, which must be "
                    "backed up",
                    quote_path(path), quote_path(root_pattern.text + pattern.text), clash));
            }
        }
        result.excludes.push_back(root_pattern.text + pattern.text);
    }
    if (!conflicts.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(conflicts)));
    }

    std::sort(result.excludes.begin(), result.excludes.end());
    result.spine = std::move(spine_list);
    for (const auto& [path, type] : kept) {
        result.kept.push_back(path);
    }
    result.stats.kept_links = static_cast<std::size_t>(std::count_if(
        links_on_the_way.begin(), links_on_the_way.end(),
        [&](const std::string& link) { return !has_kept_ancestor(link, kept, false); }));
    result.stats.spine_directories = spine.size();
    result.stats.excludes = result.excludes.size();
    return result;
}

// --- the command -------------------------------------------------------------------------------

util::ExitCode unroll_command(const UnrollOptions& options, std::string_view prog) {
    namespace stdfs = std::filesystem;
    bool from_stdin = options.include_file == "-";
    std::string source = from_stdin ? std::string("standard input") : options.include_file;
    Expected<std::string> text;
    if (from_stdin) {
        text = util::read_all(STDIN_FILENO, source);
    } else {
        text = util::read_file(options.include_file);
        std::error_code ec;
        if (!text && !stdfs::exists(options.include_file, ec)) {
            // A missing include list is a mistake in the configuration, not a passing failure.
            text = util::fail(ExitCode::permanent, "read include list {}: no such file",
                              options.include_file);
        }
    }
    std::string content = util::value_or_throw(std::move(text));
    auto includes = util::value_or_throw(parse_include_list(content, source));

    std::string root = "/";
    if (!options.root.empty()) {
        // restic matches patterns against absolute, lexically cleaned paths.
        root = stdfs::absolute(options.root).lexically_normal().string();
    }
    RealFileSystem fs;
    UnrollResult result = util::value_or_throw(unroll(includes, root, fs));

    std::string rendered = render_excludes(result);
    if (options.output_file == "-") {
        util::value_or_throw(util::write_all(STDOUT_FILENO, rendered, "standard output"));
    } else {
        util::value_or_throw(util::atomic_write(options.output_file, rendered, 0644));
    }
    for (const auto& problem : result.problems) {
        util::print_warning(prog, problem);
    }
    if (options.stats) {
        const auto& s = result.stats;
        std::fputs(fmt::format("{}: stats: includes {}, spine directories {}, directories read "
                               "{}, directories opened {}, kept links {}, excludes {}\n",
                               prog, s.includes, s.spine_directories, s.directories_read,
                               fs.directories_opened(), s.kept_links, s.excludes)
                       .c_str(),
                   stderr);
    }
    return result.problems.empty() ? ExitCode::ok : ExitCode::findings;
}

} // namespace backup::core
