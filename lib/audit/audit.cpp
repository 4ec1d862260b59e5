#include "audit/audit.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>

#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;

fs::path audit_state_file(const AuditTarget& target) {
    return audit_state_path(target.state_dir.value(), target.label);
}

fs::path audit_status_file(const AuditTarget& target) {
    return audit_status_path(target.state_dir.value(), target.label);
}

fs::path audit_lock_file(const AuditTarget& target) {
    return audit_lock_path(target.state_dir.value(), target.label);
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

AuditStatus AuditReport::to_status() const {
    AuditStatus s;
    s.repository = target.repository;
    s.client = target.client.empty() ? std::nullopt : std::optional<std::string>(target.client);
    s.label = target.label;
    s.started = started;
    s.finished = finished;
    s.duration_seconds = duration_seconds;
    ExitCode code = exit_code();
    s.result = code == ExitCode::ok ? "clean" : code == ExitCode::findings ? "findings" : "error";
    s.exit_code = static_cast<int>(code);
    s.mode = all ? "all" : "rotation";
    s.cycle_length = cycle_length;
    s.position = position;
    s.slot_finished = slot_finished;
    s.next_position = next_position;
    s.files_listed = files_listed;
    s.files_selected = files_selected;
    s.files_checked = files_checked;
    s.bytes_checked = bytes_checked;
    s.files_vanished = files_vanished;
    s.files_unreadable = files_unreadable;
    s.files_left = files_left;
    s.bytes_left = bytes_left;
    s.temporary_files = temporary_files;
    for (const auto& f : findings) {
        s.findings.push_back({f.path, std::string(to_string(f.kind)), f.message});
    }
    for (const auto& e : errors) {
        s.errors.push_back(e.message());
        s.errors.insert(s.errors.end(), e.more().begin(), e.more().end());
    }
    s.notes = notes;
    s.last_full_coverage = last_full_coverage;
    return s;
}

namespace {

// The wall clock of one audit, or a fixed start for tests; durations always come from the
// steady clock.
class AuditClock {
public:
    explicit AuditClock(std::optional<std::int64_t> fixed)
        : m_fixed(fixed), m_start(std::chrono::steady_clock::now()) {}
    util::SystemTime now() const {
        if (m_fixed) {
            return util::from_unix(*m_fixed) +
                   std::chrono::duration_cast<util::SystemTime::duration>(
                       std::chrono::steady_clock::now() - m_start);
        }
        return util::now();
    }
    std::int64_t seconds() const { return util::to_unix(now()); }
    double elapsed() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    }

private:
    std::optional<std::int64_t> m_fixed;
    std::chrono::steady_clock::time_point m_start;
};

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

// One audit of one repository, in the steps audit_repository() names.
class RepositoryAudit {
public:
    RepositoryAudit(const AuditTarget& target, const AuditOptions& options, AuditBudget& budget)
        : m_target(target), m_options(options), m_budget(budget), m_clock(options.now) {
        m_report.target = target;
        m_report.all = options.all;
        m_report.started = util::format_time(m_clock.now());
    }

    AuditReport run() {
        if (m_budget.exhausted()) {
            m_report.skipped = true;
            m_report.notes.push_back("not audited: the run's budget was spent before it came up");
            stamp_end();
            return std::move(m_report);
        }
        if (!prepare()) {
            stamp_end();
            return std::move(m_report);
        }
        choose_slot();
        bool hashed = hash();
        conclude(hashed);
        return std::move(m_report);
    }

private:
    void stamp_end() {
        m_report.finished = util::format_time(m_clock.now());
        m_report.duration_seconds = m_clock.elapsed();
    }
    bool prepare();
    void choose_slot();
    bool hash();
    bool hash_remote();
    void no_repository_yet(std::string_view why);
    void audit_entries(const std::vector<AuditEntry>& entries,
                       const std::function<HashRun(const std::vector<std::size_t>&)>& hash_slot);
    std::size_t tally(const std::vector<AuditEntry>& entries,
                      const std::vector<std::size_t>& selected, const HashRun& run);
    void advance(const std::vector<AuditEntry>& entries, const std::vector<std::size_t>& selected,
                 std::size_t done);
    void conclude(bool save_state);

    const AuditTarget& m_target;
    const AuditOptions& m_options;
    AuditBudget& m_budget;
    AuditClock m_clock;
    AuditReport m_report;
    std::optional<util::FileLock> m_lock; // held until the audit ends
    std::string m_state_path;
    std::optional<AuditState> m_previous;
    AuditState m_state;
    std::optional<std::string> m_resume_after;
    std::string m_pass_started;
    bool m_store_failed = false; // a remote store failed: the slot stops at that file
};

// The lock and the state.
bool RepositoryAudit::prepare() {
    if (m_target.state_dir) {
        std::string dir = m_target.state_dir->string();
        auto made = util::make_directories(dir, 0750);
        auto lock =
            made ? util::FileLock::try_acquire_or_fail(audit_lock_file(m_target).string(), 0644,
                                                       fmt::format("audit {}", m_target.repository),
                                                       "another restic-audit is auditing it")
                 : std::unexpected(made.error());
        if (!lock) {
            m_report.errors.push_back(lock.error());
            return false;
        }
        m_lock = std::move(*lock);
        m_state_path = audit_state_file(m_target).string();
        auto read = read_audit_state(m_state_path);
        if (!read) {
            // Never overwrite a state this version cannot read (it may be a newer one's).
            m_report.errors.push_back(read.error().with_context(fmt::format(
                "audit {} (remove {} to start a new cycle)", m_target.repository, m_state_path)));
            return false;
        }
        m_previous = std::move(*read);
        m_report.state_file = m_state_path;
    }
    m_state = m_previous.value_or(AuditState{});
    m_state.repository = m_target.repository;
    m_report.last_full_coverage = m_state.last_full_coverage;
    return true;
}

// The mode: the rotation's slot, or the full pass.
void RepositoryAudit::choose_slot() {
    m_pass_started = m_report.started;
    if (m_options.all) {
        m_report.cycle_length = 1;
        m_report.position = 0;
        if (m_state.full) {
            m_resume_after = m_state.full->resume_after;
            m_pass_started = m_state.full->started;
        }
        m_report.next_position = 0;
        return;
    }
    int length = std::max(m_target.cycle_length, 1);
    AuditRotation& rotation = m_state.rotation;
    m_report.cycle_length = length;
    if (!m_target.state_dir) {
        rotation = {length, stateless_audit_position(m_clock.seconds(), length), {}, {}};
    } else if (rotation.length != length) {
        if (rotation.length != 0) {
            m_report.notes.push_back(
                fmt::format("the fraction changed from 1/{} to 1/{}: a new cycle starts at slot 0",
                            rotation.length, length));
        }
        rotation = {length, 0, {}, {}};
    }
    m_report.position = rotation.position;
    m_resume_after = rotation.resume_after;
    if (rotation.position == 0 && !m_resume_after) {
        rotation.cycle_started = m_report.started;
    }
    m_report.next_position = m_report.position;
}

// Lists and checks the tree and hashes the selection; false when the tree cannot be read (or is
// not there yet): then the state must not move.
bool RepositoryAudit::hash() {
    if (m_target.remote) {
        return hash_remote();
    }
    int err = 0;
    if (auto bad = check_directory(m_target, err)) {
        if (err == ENOENT && m_target.missing_ok && !m_previous) {
            no_repository_yet("does not exist");
        } else {
            m_report.errors.push_back(*bad);
        }
        return false;
    }
    std::vector<util::Error> unlisted;
    auto entries = list_audit_entries(m_target.repository, &unlisted);
    if (!entries) {
        m_report.errors.push_back(entries.error());
        return false;
    }
    // What could not be listed is reported and keeps this cycle from counting as a full
    // coverage; the rest is audited as usual.
    m_report.directories_unlisted = unlisted.size();
    m_report.errors.insert(m_report.errors.end(), unlisted.begin(), unlisted.end());
    HashFunction function = m_options.hash ? m_options.hash : default_hash_function(true);
    audit_entries(*entries, [&](const std::vector<std::size_t>& selected) {
        return hash_selected(m_target.repository, *entries, selected, m_options.jobs, m_budget,
                             function);
    });
    return true;
}

// The same over rclone: one daemon for the listing and every object's stream.
bool RepositoryAudit::hash_remote() {
    auto store = RemoteAuditStore::open(*m_target.remote, m_options.rclone_program);
    if (!store) {
        m_report.errors.push_back(store.error());
        return false;
    }
    auto entries = (*store)->list();
    if (!entries) {
        m_report.errors.push_back(
            entries.error().with_context(fmt::format("audit {}", m_target.repository)));
        return false;
    }
    if (!*entries) {
        if (m_target.missing_ok && !m_previous) {
            no_repository_yet("does not exist");
        } else {
            m_report.errors.push_back(util::Error(
                ExitCode::temporary,
                fmt::format("unable to audit {}: it does not exist", m_target.repository)));
        }
        return false;
    }
    RemoteAuditStore& remote = **store;
    audit_entries(**entries, [&](const std::vector<std::size_t>& selected) {
        return hash_selected(**entries, selected, m_options.jobs, m_budget,
                             [&](const AuditEntry& entry) { return remote.hash(entry); });
    });
    return true;
}

void RepositoryAudit::no_repository_yet(std::string_view why) {
    m_report.notes.push_back(fmt::format("no repository yet: {} {}", m_target.repository, why));
}

// The steps after the listing, wherever the tree is: check it, select the slot, hash, move on.
void RepositoryAudit::audit_entries(
    const std::vector<AuditEntry>& entries,
    const std::function<HashRun(const std::vector<std::size_t>&)>& hash_slot) {
    m_report.files_listed = entries.size();
    if (entries.empty()) {
        no_repository_yet("is empty");
    }
    auto listing = check_listing(entries, m_clock.seconds(), m_options.temporary_grace);
    m_report.findings = std::move(listing.findings);
    m_report.temporary_files = listing.temporary;
    auto selected =
        select_for_audit(entries, m_report.cycle_length, m_report.position, m_resume_after);
    m_report.files_selected = selected.size();
    auto run = hash_slot(selected);
    std::size_t done = tally(entries, selected, run);
    stamp_end();
    advance(entries, selected, done);
}

// Counts what was hashed; returns how many files of the selection count as done: all that
// were started, or those before the first the store failed on (the next run resumes there).
std::size_t RepositoryAudit::tally(const std::vector<AuditEntry>& entries,
                                   const std::vector<std::size_t>& selected, const HashRun& run) {
    std::size_t done = run.done;
    for (std::size_t i = 0; i < run.done; ++i) {
        const auto& entry = entries[selected[i]];
        const auto& result = run.results[i];
        switch (result.outcome) {
        case HashOutcome::match:
        case HashOutcome::mismatch:
            ++m_report.files_checked;
            m_report.bytes_checked += result.bytes;
            if (result.outcome == HashOutcome::mismatch) {
                m_report.findings.push_back(
                    {entry.relative, FindingKind::hash_mismatch,
                     fmt::format("content ({} bytes) hashes to {}, not to its name", result.bytes,
                                 result.actual)});
            }
            break;
        case HashOutcome::vanished:
            ++m_report.files_vanished;
            break;
        case HashOutcome::unreadable:
            // The position still moves on: a bad sector would otherwise stall the whole audit.
            ++m_report.files_unreadable;
            m_report.errors.push_back(*result.error);
            break;
        case HashOutcome::unavailable:
            // The store, not the file, failed: the file is not verified and is done again next
            // time, so the slot does not move past it.
            done = std::min(done, i);
            m_store_failed = true;
            m_report.errors.push_back(*result.error);
            break;
        }
    }
    for (std::size_t i = done; i < selected.size(); ++i) {
        ++m_report.files_left;
        m_report.bytes_left += entries[selected[i]].size;
    }
    std::stable_sort(m_report.findings.begin(), m_report.findings.end(),
                     [](const Finding& a, const Finding& b) { return a.path < b.path; });
    m_report.slot_finished = done == selected.size();
    return done;
}

// Moves the rotation (or the full pass) on as far as the files done allow.
void RepositoryAudit::advance(const std::vector<AuditEntry>& entries,
                              const std::vector<std::size_t>& selected, std::size_t done) {
    AuditRotation& rotation = m_state.rotation;
    // A file or directory that could not be read was not verified: the pass or cycle goes on
    // (a bad sector must not stall the audit) but is no full coverage.
    bool complete = m_report.files_unreadable == 0 && m_report.directories_unlisted == 0;
    if (m_options.all) {
        if (m_report.slot_finished) {
            if (complete) {
                m_state.last_full_coverage = AuditCoverage{m_pass_started, m_report.finished};
            }
            m_state.full.reset();
        } else if (done > 0) {
            m_state.full = AuditFullPass{m_pass_started, entries[selected[done - 1]].relative};
        }
    } else if (m_report.slot_finished) {
        int next = (rotation.position + 1) % rotation.length;
        rotation.incomplete = rotation.incomplete || !complete;
        if (next == 0 && rotation.cycle_started && !rotation.incomplete) {
            m_state.last_full_coverage = AuditCoverage{*rotation.cycle_started, m_report.finished};
        }
        if (next == 0) {
            rotation.cycle_started.reset();
            rotation.incomplete = false;
        }
        rotation.position = next;
        rotation.resume_after.reset();
        m_report.next_position = next;
    } else if (done > 0) {
        rotation.resume_after = entries[selected[done - 1]].relative;
    }
    if (!m_report.slot_finished) {
        m_report.notes.push_back(fmt::format(
            "{}: {} files ({} bytes) of {} left{}",
            m_store_failed ? "the store failed" : "the budget ran out", m_report.files_left,
            m_report.bytes_left,
            m_options.all ? std::string("the full pass")
                          : fmt::format("slot {}/{}", m_report.position, m_report.cycle_length),
            m_target.state_dir ? " for the next run"
                               : ", not carried over without a state directory"));
    }
}

void RepositoryAudit::conclude(bool save_state) {
    stamp_end();
    m_state.last_run = m_report.finished;
    m_report.last_full_coverage = m_state.last_full_coverage;
    if (!m_target.state_dir) {
        return;
    }
    if (save_state) {
        if (auto ok = write_audit_state(m_state_path, m_state); !ok) {
            m_report.errors.push_back(ok.error());
        }
    }
    if (auto ok = write_audit_status(*m_target.state_dir, m_report.to_status()); !ok) {
        m_report.errors.push_back(ok.error());
    } else {
        m_report.status_file = audit_status_file(m_target).string();
    }
}

} // namespace

AuditReport audit_repository(const AuditTarget& target, const AuditOptions& options,
                             AuditBudget& budget) {
    return RepositoryAudit(target, options, budget).run();
}

} // namespace backup::core
