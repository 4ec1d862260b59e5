#include "core/audit.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <memory>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;

// --- option values -------------------------------------------------------------------------

namespace {

// The leading decimal digits of text as an unsigned number; nullopt when there are none or
// they overflow. rest is what follows them.
std::optional<std::uint64_t> leading_number(std::string_view text, std::string_view& rest) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data() || text.front() == '+' || text.front() == '-') {
        return std::nullopt;
    }
    rest = text.substr(static_cast<std::size_t>(end - text.data()));
    return value;
}

} // namespace

util::Expected<int> parse_audit_fraction(std::string_view text, std::string_view option) {
    std::string_view rest;
    if (text.starts_with("1/")) {
        auto n = leading_number(text.substr(2), rest);
        if (n && rest.empty() && *n >= 1 &&
            *n <= static_cast<std::uint64_t>(k_max_audit_fraction)) {
            return static_cast<int>(*n);
        }
    }
    return util::fail(ExitCode::permanent, "use {} '{}': expected 1/N with N from 1 to {}", option,
                      text, k_max_audit_fraction);
}

util::Expected<std::uint64_t> parse_audit_size(std::string_view text, std::string_view option) {
    std::string_view rest;
    auto n = leading_number(text, rest);
    std::uint64_t factor = 1;
    if (rest.size() == 1) {
        switch (rest.front()) {
        case 'K':
        case 'k':
            factor = 1ULL << 10;
            break;
        case 'M':
        case 'm':
            factor = 1ULL << 20;
            break;
        case 'G':
        case 'g':
            factor = 1ULL << 30;
            break;
        case 'T':
        case 't':
            factor = 1ULL << 40;
            break;
        default:
            factor = 0;
        }
    } else if (!rest.empty()) {
        factor = 0;
    }
    if (!n || factor == 0 || *n == 0 || *n > UINT64_MAX / factor) {
        return util::fail(ExitCode::permanent,
                          "use {} '{}': expected a positive number of bytes, optionally with "
                          "K, M, G or T (powers of 1024)",
                          option, text);
    }
    return *n * factor;
}

util::Expected<std::chrono::seconds> parse_audit_duration(std::string_view text,
                                                          std::string_view option) {
    std::string_view rest;
    auto n = leading_number(text, rest);
    std::uint64_t factor = 1;
    if (rest == "m") {
        factor = 60;
    } else if (rest == "h") {
        factor = 3600;
    } else if (rest == "d") {
        factor = 86400;
    } else if (!rest.empty() && rest != "s") {
        factor = 0;
    }
    // Ten years is more than any grace period or run; the bound keeps the arithmetic exact.
    constexpr std::uint64_t k_max = 10ULL * 366 * 86400;
    if (!n || factor == 0 || *n > k_max / factor) {
        return util::fail(ExitCode::permanent,
                          "use {} '{}': expected a number of seconds, optionally with s, m, "
                          "h or d",
                          option, text);
    }
    return std::chrono::seconds(static_cast<std::int64_t>(*n * factor));
}

// --- rotation --------------------------------------------------------------------------------

int audit_slot(std::string_view id, int cycle_length) {
    std::uint64_t value = 0;
    std::string_view digits = id.substr(0, std::min<std::size_t>(id.size(), 16));
    std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
    return static_cast<int>(value % static_cast<std::uint64_t>(std::max(cycle_length, 1)));
}

int stateless_audit_position(std::int64_t now, int cycle_length) {
    std::int64_t day = now / 86400;
    return static_cast<int>(day % std::max(cycle_length, 1));
}

// --- listing ---------------------------------------------------------------------------------

namespace {

struct DirCloser {
    void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

// A repository is three levels deep; anything much deeper is not one, and the bound keeps a
// hostile tree from exhausting descriptors or the stack.
constexpr int k_max_depth = 32;

util::Expected<void> walk(util::Fd dir_fd, const std::string& root, const std::string& prefix,
                          int depth, std::vector<AuditEntry>& out) {
    std::string shown = prefix.empty() ? root : fmt::format("{}/{}", root, prefix);
    if (depth > k_max_depth) {
        return util::fail(ExitCode::permanent, "list {}: nested deeper than {} directories", shown,
                          k_max_depth);
    }
    DirHandle dir(::fdopendir(dir_fd.get()));
    if (!dir) {
        return util::fail_errno(errno, fmt::format("list {}", shown));
    }
    dir_fd.release(); // the DIR owns it now
    int fd = ::dirfd(dir.get());
    for (;;) {
        errno = 0;
        const dirent* ent = ::readdir(dir.get());
        if (ent == nullptr) {
            if (errno != 0) {
                return util::fail_errno(errno, fmt::format("list {}", shown));
            }
            break;
        }
        std::string name = ent->d_name;
        if (name == "." || name == "..") {
            continue;
        }
        std::string relative = prefix.empty() ? name : fmt::format("{}/{}", prefix, name);
        struct stat st {};
        if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                continue; // removed since readdir: a lock, or a pack that prune removed
            }
            return util::fail_errno(errno, fmt::format("stat {}/{}", root, relative));
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                if (errno == ENOENT) {
                    continue;
                }
                return util::fail_errno(errno, fmt::format("list {}/{}", root, relative));
            }
            if (auto ok = walk(util::Fd(sub), root, relative, depth + 1, out); !ok) {
                return ok;
            }
            continue;
        }
        AuditEntry entry;
        entry.regular = S_ISREG(st.st_mode);
        entry.kind = entry.regular ? classify_repository_path(relative) : RepoFileKind::other;
        entry.size = static_cast<std::uint64_t>(st.st_size);
        entry.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
        entry.relative = std::move(relative);
        out.push_back(std::move(entry));
    }
    return {};
}

std::string_view basename_of(std::string_view relative) {
    auto slash = relative.rfind('/');
    return slash == std::string_view::npos ? relative : relative.substr(slash + 1);
}

} // namespace

util::Expected<std::vector<AuditEntry>> list_audit_entries(const std::string& root) {
    auto fd = util::open_fd(root, O_RDONLY | O_DIRECTORY);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    std::vector<AuditEntry> entries;
    if (auto ok = walk(std::move(*fd), root, "", 0, entries); !ok) {
        return std::unexpected(ok.error());
    }
    std::sort(entries.begin(), entries.end(),
              [](const AuditEntry& a, const AuditEntry& b) { return a.relative < b.relative; });
    return entries;
}

bool is_temporary_name(std::string_view relative) {
    if (relative.starts_with(".sgwtmp/") || relative.find("/.sgwtmp/") != std::string_view::npos) {
        return true;
    }
    std::string_view name = basename_of(relative);
    bool hidden = name.starts_with('.');
    return name.ends_with(".rest-server-temp") || name.find("-tmp-") != std::string_view::npos ||
           name.ends_with(".partial") || (hidden && name.find(".tmp-") != std::string_view::npos) ||
           (hidden && name.find(".sgwtmp.") != std::string_view::npos);
}

// --- findings --------------------------------------------------------------------------------

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

std::string describe_age(std::int64_t seconds) {
    if (seconds >= 2 * 86400) {
        return fmt::format("{} days", seconds / 86400);
    }
    if (seconds >= 2 * 3600) {
        return fmt::format("{} hours", seconds / 3600);
    }
    return fmt::format("{} minutes", std::max<std::int64_t>(seconds, 0) / 60);
}

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
                                    describe_age(age)));
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
            std::string_view id = basename_of(e.relative);
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

// --- selection -------------------------------------------------------------------------------

std::vector<std::size_t> select_for_audit(const std::vector<AuditEntry>& entries, int cycle_length,
                                          int position,
                                          const std::optional<std::string>& resume_after) {
    std::vector<std::size_t> selected;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        if (!e.regular || !is_content_addressed(e.kind) || e.size == 0) {
            continue; // what the listing shows is checked on every run already
        }
        if (resume_after && e.relative <= *resume_after) {
            continue;
        }
        if (cycle_length > 1 && audit_slot(basename_of(e.relative), cycle_length) != position) {
            continue;
        }
        selected.push_back(i);
    }
    return selected;
}

// --- budget ----------------------------------------------------------------------------------

AuditBudget::AuditBudget(std::optional<std::uint64_t> max_bytes,
                         std::optional<std::chrono::seconds> max_seconds)
    : m_max_bytes(max_bytes) {
    if (max_seconds) {
        m_deadline = std::chrono::steady_clock::now() + *max_seconds;
    }
}

bool AuditBudget::try_start(std::uint64_t size) {
    std::lock_guard lock(m_mutex);
    if (m_started_any) {
        if (m_refused) {
            return false;
        }
        if (m_deadline && std::chrono::steady_clock::now() >= *m_deadline) {
            return false;
        }
        if (m_max_bytes && m_started_bytes + size > *m_max_bytes) {
            // Smaller files further on might fit, but skipping would break the rule that a run
            // does a prefix of the slot, which is what lets the next run resume after one name.
            m_refused = true;
            return false;
        }
    }
    m_started_any = true;
    m_started_bytes += size;
    return true;
}

bool AuditBudget::exhausted() const {
    std::lock_guard lock(m_mutex);
    if (!m_started_any) {
        return false;
    }
    if (m_refused) {
        return true;
    }
    if (m_deadline && std::chrono::steady_clock::now() >= *m_deadline) {
        return true;
    }
    return m_max_bytes && m_started_bytes >= *m_max_bytes;
}

// --- hashing ---------------------------------------------------------------------------------

util::Expected<util::Fd> open_repository_file(const std::string& root,
                                              const std::string& relative) {
    std::string path = fmt::format("{}/{}", root, relative);
    auto dir = util::open_fd(root, O_RDONLY | O_DIRECTORY);
    if (!dir) {
        return std::unexpected(dir.error());
    }
    open_how how{};
    // O_NONBLOCK: a FIFO swapped in after the listing must not block the open.
    how.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = -1;
    do {
        fd = ::syscall(SYS_openat2, dir->get(), relative.c_str(), &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        // No openat2 (Linux < 5.6, or a seccomp filter): the walk opened no directory through a
        // link, and O_NOFOLLOW covers the file itself.
        do {
            fd = ::openat(dir->get(), relative.c_str(),
                          O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
        } while (fd < 0 && errno == EINTR);
    }
    if (fd < 0) {
        return util::fail_errno(errno, fmt::format("open {}", path));
    }
    util::Fd file(static_cast<int>(fd));
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) {
        return util::fail_errno(errno, fmt::format("stat {}", path));
    }
    if (!S_ISREG(st.st_mode)) {
        return util::fail(ExitCode::temporary, "read {}: not a regular file any more", path);
    }
    return file;
}

util::Expected<util::FileHash> sha256_fd(int fd, const std::string& what, bool drop_cache) {
    constexpr std::size_t k_chunk = 1 << 20;
    // One buffer per worker thread, not one per file: most packs are a few MiB.
    thread_local std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(k_chunk);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    util::Sha256 hash;
    util::FileHash result;
    for (;;) {
        ssize_t n = ::read(fd, buffer.get(), k_chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return util::fail_errno(errno, fmt::format("read {}", what));
        }
        if (n == 0) {
            break;
        }
        hash.update(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
        if (drop_cache) {
            ::posix_fadvise(fd, static_cast<off_t>(result.size), n, POSIX_FADV_DONTNEED);
        }
        result.size += static_cast<std::uint64_t>(n);
    }
    result.hex = util::to_hex(hash.finish());
    return result;
}

HashFunction default_hash_function(bool drop_cache) {
    return [drop_cache](const std::string& root,
                        const std::string& relative) -> util::Expected<util::FileHash> {
        auto fd = open_repository_file(root, relative);
        if (!fd) {
            return std::unexpected(fd.error());
        }
        return sha256_fd(fd->get(), fmt::format("{}/{}", root, relative), drop_cache);
    };
}

namespace {

HashResult hash_one(const std::string& root, const AuditEntry& entry, const HashFunction& hash) {
    std::string path = fmt::format("{}/{}", root, entry.relative);
    HashResult result;
    util::Expected<util::FileHash> hashed =
        std::unexpected(util::Error(ExitCode::temporary, fmt::format("unable to read {}", path)));
    try {
        hashed = hash(root, entry.relative);
    } catch (const std::exception& e) {
        // A worker thread must not let an exception escape (std::terminate); OpenSSL failures and
        // bad_alloc become an unreadable file.
        hashed = util::fail(ExitCode::temporary, "read {}: {}", path, e.what());
    }
    if (!hashed) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
            result.outcome = HashOutcome::vanished;
        } else {
            result.outcome = HashOutcome::unreadable;
            result.error = hashed.error();
        }
        return result;
    }
    result.bytes = hashed->size;
    result.actual = std::move(hashed->hex);
    result.outcome =
        result.actual == basename_of(entry.relative) ? HashOutcome::match : HashOutcome::mismatch;
    return result;
}

} // namespace

HashRun hash_selected(const std::string& root, const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, int jobs, AuditBudget& budget,
                      const HashFunction& hash) {
    HashRun run;
    run.results.resize(selected.size());
    std::mutex mutex;
    std::size_t next = 0;
    bool stop = false;
    auto worker = [&] {
        for (;;) {
            std::size_t i = 0;
            {
                std::lock_guard lock(mutex);
                if (stop || next >= selected.size()) {
                    return;
                }
                // Claiming under one lock keeps the files started a prefix of the selection.
                if (!budget.try_start(entries[selected[next]].size)) {
                    stop = true;
                    return;
                }
                i = next++;
            }
            run.results[i] = hash_one(root, entries[selected[i]], hash);
        }
    };
    std::size_t threads =
        std::min<std::size_t>(static_cast<std::size_t>(std::max(jobs, 1)), selected.size());
    if (threads <= 1) {
        worker();
    } else {
        std::vector<std::jthread> pool;
        pool.reserve(threads);
        for (std::size_t t = 0; t < threads; ++t) {
            pool.emplace_back(worker);
        }
    }
    run.done = next;
    run.results.resize(run.done);
    return run;
}

// --- one repository --------------------------------------------------------------------------

fs::path audit_state_file(const AuditTarget& target) {
    return target.state_dir.value() / fmt::format("audit-{}.state.json", target.label);
}

fs::path audit_status_file(const AuditTarget& target) {
    return target.state_dir.value() / fmt::format("audit-{}.json", target.label);
}

fs::path audit_lock_file(const AuditTarget& target) {
    return target.state_dir.value() / fmt::format("audit-{}.lock", target.label);
}

util::ExitCode AuditReport::exit_code() const {
    if (!errors.empty()) {
        bool temporary = std::any_of(errors.begin(), errors.end(), [](const util::Error& e) {
            return e.code() == ExitCode::temporary;
        });
        return temporary ? ExitCode::temporary : ExitCode::permanent;
    }
    return findings.empty() ? ExitCode::ok : ExitCode::findings;
}

util::Json AuditReport::to_json() const {
    util::Json findings_json = util::Json::array();
    for (const auto& f : findings) {
        findings_json.push_back(
            {{"path", f.path}, {"kind", std::string(to_string(f.kind))}, {"message", f.message}});
    }
    util::Json errors_json = util::Json::array();
    for (const auto& e : errors) {
        errors_json.push_back(e.message());
        for (const auto& more : e.more()) {
            errors_json.push_back(more);
        }
    }
    util::Json coverage = nullptr;
    if (last_full_coverage) {
        coverage = {{"started", last_full_coverage->started},
                    {"finished", last_full_coverage->finished}};
    }
    ExitCode code = exit_code();
    std::string result = code == ExitCode::ok         ? "clean"
                         : code == ExitCode::findings ? "findings"
                                                      : "error";
    return util::Json{
        {"schema", k_audit_status_schema},
        {"repository", target.repository},
        {"client", target.client.empty() ? util::Json(nullptr) : util::Json(target.client)},
        {"label", target.label},
        {"started", started},
        {"finished", finished},
        {"duration_seconds", duration_seconds},
        {"result", result},
        {"exit_code", static_cast<int>(code)},
        {"mode", all ? "all" : "rotation"},
        {"cycle",
         {{"length", cycle_length},
          {"position", position},
          {"slot_finished", slot_finished},
          {"next_position", next_position}}},
        {"files_listed", files_listed},
        {"files_selected", files_selected},
        {"files_checked", files_checked},
        {"bytes_checked", bytes_checked},
        {"files_vanished", files_vanished},
        {"files_unreadable", files_unreadable},
        {"files_left", files_left},
        {"bytes_left", bytes_left},
        {"temporary_files", temporary_files},
        {"findings", findings_json},
        {"errors", errors_json},
        {"notes", notes},
        {"last_full_coverage", coverage},
    };
}

namespace {

// The wall clock of one audit, or a fixed start for tests; durations always come from the
// steady clock.
class AuditClock {
public:
    explicit AuditClock(std::optional<std::int64_t> fixed)
        : m_fixed(fixed), m_start(std::chrono::steady_clock::now()) {}
    std::chrono::system_clock::time_point now() const {
        if (m_fixed) {
            return std::chrono::system_clock::time_point(std::chrono::seconds(*m_fixed)) +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       std::chrono::steady_clock::now() - m_start);
        }
        return std::chrono::system_clock::now();
    }
    std::int64_t seconds() const {
        return std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
    }
    double elapsed() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    }

private:
    std::optional<std::int64_t> m_fixed;
    std::chrono::steady_clock::time_point m_start;
};

// An flock(2) on path, held for as long as the returned descriptor is open, so that two runs
// (an overlapping cron job) never advance the same rotation.
util::Expected<util::Fd> lock_file(const std::string& path, const std::string& repository) {
    auto lock = util::try_lock_file(path, 0644);
    if (!lock) {
        return std::unexpected(lock.error());
    }
    if (!*lock) {
        return util::fail(ExitCode::temporary,
                          "audit {}: another restic-audit is auditing it (it holds {})",
                          repository, path);
    }
    return std::move(**lock);
}

// The missing or unusable repository directory, as an error; nullopt when it is a directory.
std::optional<util::Error> check_directory(const AuditTarget& target, int& err) {
    struct stat st {};
    err = 0;
    if (::stat(target.repository.c_str(), &st) != 0) {
        err = errno;
    } else if (!S_ISDIR(st.st_mode)) {
        err = ENOTDIR;
    }
    if (err == 0) {
        return std::nullopt;
    }
    // A path on the command line that is not a directory is bad input; a configured repository
    // that cannot be reached may be an unmounted disk.
    bool permanent = target.client.empty() && (err == ENOENT || err == ENOTDIR);
    return util::Error(permanent ? ExitCode::permanent : ExitCode::temporary,
                       fmt::format("unable to audit {}: {}", target.repository,
                                   err == ENOTDIR ? "not a directory" : std::strerror(err)));
}

} // namespace

AuditReport audit_repository(const AuditTarget& target, const AuditOptions& options,
                             AuditBudget& budget) {
    AuditClock clock(options.now);
    AuditReport report;
    report.target = target;
    report.all = options.all;
    report.started = format_utc(clock.now());
    auto stamp_end = [&] {
        report.finished = format_utc(clock.now());
        report.duration_seconds = clock.elapsed();
    };
    if (budget.exhausted()) {
        report.skipped = true;
        report.notes.push_back("not audited: the run's budget was spent before it came up");
        stamp_end();
        return report;
    }

    // The lock (held until this function returns) and the state.
    std::optional<util::Fd> lock;
    std::string state_path;
    std::optional<AuditState> previous;
    if (target.state_dir) {
        std::string dir = target.state_dir->string();
        if (auto made = util::make_directories(dir, 0750); !made) {
            report.errors.push_back(made.error());
            stamp_end();
            return report;
        }
        auto locked = lock_file(audit_lock_file(target).string(), target.repository);
        if (!locked) {
            report.errors.push_back(locked.error());
            stamp_end();
            return report;
        }
        lock = std::move(*locked);
        state_path = audit_state_file(target).string();
        auto read = read_audit_state(state_path);
        if (!read) {
            // Never overwrite a state this version cannot read (it may be a newer one's).
            report.errors.push_back(read.error().with_context(fmt::format(
                "audit {} (remove {} to start a new cycle)", target.repository, state_path)));
            stamp_end();
            return report;
        }
        previous = std::move(*read);
        report.state_file = state_path;
    }
    AuditState state = previous.value_or(AuditState{});
    state.repository = target.repository;
    report.last_full_coverage = state.last_full_coverage;

    auto conclude = [&](bool save_state) {
        stamp_end();
        state.last_run = report.finished;
        report.last_full_coverage = state.last_full_coverage;
        if (!target.state_dir) {
            return;
        }
        if (save_state) {
            if (auto ok = write_audit_state(state_path, state); !ok) {
                report.errors.push_back(ok.error());
            }
        }
        std::string status_path = audit_status_file(target).string();
        if (auto ok = util::write_json_file(status_path, report.to_json(), 0644); !ok) {
            report.errors.push_back(ok.error());
        } else {
            report.status_file = status_path;
        }
    };

    // The mode: the rotation's slot, or the full pass.
    std::optional<std::string> resume_after;
    std::string pass_started = report.started;
    if (options.all) {
        report.cycle_length = 1;
        report.position = 0;
        if (state.full) {
            resume_after = state.full->resume_after;
            pass_started = state.full->started;
        }
    } else {
        int length = std::max(target.cycle_length, 1);
        report.cycle_length = length;
        if (!target.state_dir) {
            state.rotation = {length, stateless_audit_position(clock.seconds(), length), {}, {}};
        } else if (state.rotation.length != length) {
            if (state.rotation.length != 0) {
                report.notes.push_back(fmt::format(
                    "the fraction changed from 1/{} to 1/{}: a new cycle starts at slot 0",
                    state.rotation.length, length));
            }
            state.rotation = {length, 0, {}, {}};
        }
        report.position = state.rotation.position;
        resume_after = state.rotation.resume_after;
        if (state.rotation.position == 0 && !resume_after) {
            state.rotation.cycle_started = report.started;
        }
    }
    report.next_position = report.position;

    int err = 0;
    if (auto bad = check_directory(target, err)) {
        if (err == ENOENT && target.missing_ok && !previous) {
            report.notes.push_back(
                fmt::format("no repository yet: {} does not exist", target.repository));
            conclude(false);
            return report;
        }
        report.errors.push_back(*bad);
        conclude(false);
        return report;
    }
    auto entries = list_audit_entries(target.repository);
    if (!entries) {
        report.errors.push_back(entries.error());
        conclude(false);
        return report;
    }
    report.files_listed = entries->size();
    if (entries->empty()) {
        report.notes.push_back(fmt::format("no repository yet: {} is empty", target.repository));
    }

    auto listing = check_listing(*entries, clock.seconds(), options.temporary_grace);
    report.findings = std::move(listing.findings);
    report.temporary_files = listing.temporary;

    auto selected = select_for_audit(*entries, report.cycle_length, report.position, resume_after);
    report.files_selected = selected.size();
    HashFunction hash = options.hash ? options.hash : default_hash_function(true);
    auto run = hash_selected(target.repository, *entries, selected, options.jobs, budget, hash);
    for (std::size_t i = 0; i < run.done; ++i) {
        const auto& entry = (*entries)[selected[i]];
        auto& result = run.results[i];
        switch (result.outcome) {
        case HashOutcome::match:
            ++report.files_checked;
            report.bytes_checked += result.bytes;
            break;
        case HashOutcome::mismatch:
            ++report.files_checked;
            report.bytes_checked += result.bytes;
            report.findings.push_back(
                {entry.relative, FindingKind::hash_mismatch,
                 fmt::format("content ({} bytes) hashes to {}, not to its name", result.bytes,
                             result.actual)});
            break;
        case HashOutcome::vanished:
            ++report.files_vanished;
            break;
        case HashOutcome::unreadable:
            // The position still moves on: a bad sector would otherwise stall the whole audit.
            ++report.files_unreadable;
            report.errors.push_back(*result.error);
            break;
        }
    }
    for (std::size_t i = run.done; i < selected.size(); ++i) {
        ++report.files_left;
        report.bytes_left += (*entries)[selected[i]].size;
    }
    std::stable_sort(report.findings.begin(), report.findings.end(),
                     [](const Finding& a, const Finding& b) { return a.path < b.path; });
    report.slot_finished = run.done == selected.size();
    stamp_end();

    if (options.all) {
        if (report.slot_finished) {
            state.last_full_coverage = AuditCoverage{pass_started, report.finished};
            state.full.reset();
        } else if (run.done > 0) {
            state.full = AuditFullPass{pass_started, (*entries)[selected[run.done - 1]].relative};
        }
    } else if (report.slot_finished) {
        int next = (state.rotation.position + 1) % state.rotation.length;
        if (next == 0 && state.rotation.cycle_started) {
            state.last_full_coverage =
                AuditCoverage{*state.rotation.cycle_started, report.finished};
        }
        if (next == 0) {
            state.rotation.cycle_started.reset();
        }
        state.rotation.position = next;
        state.rotation.resume_after.reset();
        report.next_position = next;
    } else if (run.done > 0) {
        state.rotation.resume_after = (*entries)[selected[run.done - 1]].relative;
    }
    if (!report.slot_finished) {
        report.notes.push_back(fmt::format(
            "the budget ran out: {} files ({} bytes) of {} left{}", report.files_left,
            report.bytes_left,
            options.all ? std::string("the full pass")
                        : fmt::format("slot {}/{}", report.position, report.cycle_length),
            target.state_dir ? " for the next run"
                             : ", not carried over without a state directory"));
    }
    conclude(true);
    return report;
}

} // namespace backup::core
