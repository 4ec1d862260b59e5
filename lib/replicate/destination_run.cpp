#include "replicate/destination_run.hpp"

#include "replicate/retention.hpp"
#include "state/replicate_hold.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/text.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

using util::ExitCode;
using Clock = std::chrono::steady_clock;

namespace {

// Calls f for each id of source (sorted) that held (sorted) lacks: one pass over both, instead of
// a tree search (a dozen string compares) per source file.
template <typename F>
void for_each_absent(const std::vector<std::string>& source, const std::set<std::string>& held,
                     F&& f) {
    auto h = held.begin();
    for (const auto& id : source) {
        while (h != held.end() && *h < id) {
            ++h;
        }
        if (h == held.end() || *h != id) {
            f(id);
        }
    }
}

std::string describe_count(const CopyOutcome& outcome) {
    std::string text = fmt::format("copied {} file{}, {} bytes", outcome.sent,
                                   outcome.sent == 1 ? "" : "s", outcome.bytes);
    if (outcome.already_there > 0) {
        text += fmt::format(", {} already there", outcome.already_there);
    }
    if (!outcome.vanished.empty()) {
        text += fmt::format(", {} vanished from the source (skipped)", outcome.vanished.size());
    }
    if (!outcome.refused.empty()) {
        text += fmt::format(", {} not sent (corrupt or unreadable at the source)",
                            outcome.refused.size());
    }
    return text;
}

bool source_has(const SourceRepository& source, ReplicatePhase phase, const std::string& id) {
    const auto& ids = source.ids[phase_index(phase)];
    return std::binary_search(ids.begin(), ids.end(), id);
}

// "; ledger repaired: N added, M dropped": how a listing changed what the ledger said.
std::string
describe_repair(const ReplicaLedger& ledger,
                const std::array<std::set<std::string>, k_replicate_phase_count>& listed) {
    std::size_t added = 0;
    std::size_t dropped = 0;
    for (auto phase : k_replicate_phases) {
        const auto& old_ids = ledger.ids[phase_index(phase)];
        const auto& new_ids = listed[phase_index(phase)];
        for (const auto& id : new_ids) {
            added += old_ids.contains(id) ? 0 : 1;
        }
        for (const auto& id : old_ids) {
            dropped += new_ids.contains(id) ? 0 : 1;
        }
    }
    return fmt::format("; ledger repaired: {} added, {} dropped", added, dropped);
}

} // namespace

void RunContext::log(LogLevel level, std::string_view line) const {
    if (options.log) {
        options.log(level, line);
    }
}

const std::array<std::vector<std::string>, k_replicate_phase_count>* RunContext::presence() {
    if (!presence_tried) {
        presence_tried = true;
        auto listed = list_source_presence(source);
        if (listed) {
            present = std::move(*listed);
        } else {
            log(LogLevel::warning,
                fmt::format("{}; no deletion from the source is seen or made this run",
                            listed.error().message()));
        }
    }
    return present ? &*present : nullptr;
}

void RunContext::report_refused(const std::vector<std::string>& refused) {
    for (const auto& relative : refused) {
        if (!reported.insert(relative).second) {
            continue;
        }
        const auto* state = verifier.find(relative);
        bool corrupt = state && state->check == SourceCheck::corrupt;
        (corrupt ? report.corrupt : report.unreadable).push_back(relative);
        log(LogLevel::error,
            fmt::format("unable to replicate {}: {}; it is not sent to any destination", relative,
                        state ? state->reason : std::string("it could not be read")));
    }
}

DestinationRun::DestinationRun(RunContext& ctx, const ReplicaTarget& target)
    : m_ctx(ctx), m_target(target),
      m_store(make_replica_store(target.destination, ctx.source, ctx.options.rclone,
                                 std::move(ctx.spawned[target.destination.name]))),
      m_started(Clock::now()) {
    m_rep.name = target.destination.name;
    m_rep.label = target.label;
    m_rep.kind = std::string(m_store->kind());
    m_rep.target = m_store->target();
    m_rep.last_attempt = ctx.now;
    if (auto it = ctx.previous_success.find(m_rep.name); it != ctx.previous_success.end()) {
        m_rep.last_success = it->second;
    }
    if (auto it = ctx.previous_deletion.find(m_rep.name); it != ctx.previous_deletion.end()) {
        m_rep.last_deletion = it->second;
    }
    m_rep.keep_deleted = target.destination.keep_deleted;
    m_next.name = m_rep.name;
    m_next.kind = m_rep.kind;
    m_next.target = m_rep.target;
    m_config_sha = util::sha256_hex(*ctx.source.config);
}

DestinationReport DestinationRun::run() {
    locate_ledger();
    if (check_config() && mark_interrupted() && reconcile_listing()) {
        copy_phases();
        if (m_rep.state == ReplicaState::ok) {
            retention();
        }
        // Every temporary file of this run is gone (each copy removes its own on every path).
        if (m_marker_path) {
            ::unlink(m_marker_path->c_str());
        }
    }
    return finish();
}

void DestinationRun::fail(const util::Error& error) {
    m_rep.state = ReplicaState::failed;
    m_rep.error = util::Error(error.code(), fmt::format("unable to replicate to {}: {}",
                                                        m_target.label, error.message()));
    m_ctx.log(LogLevel::error, m_rep.error->message());
}

void DestinationRun::locate_ledger() {
    const Destination& dest = m_target.destination;
    if (!m_ctx.job.state_dir) {
        m_list_reason = "no state directory";
    } else {
        std::string state_dir = m_ctx.job.state_dir->string();
        m_ledger_file.emplace(replica_ledger_path(state_dir, dest.name));
        if (dest.is_local()) {
            m_marker_path =
                fmt::format("{}/{}/{}.interrupted", state_dir, k_replicate_state_subdir, dest.name);
        }
        auto read = m_ledger_file->read();
        if (!read) {
            m_ctx.log(LogLevel::warning, fmt::format("{}: {}; listing the destination instead",
                                                     m_target.label, read.error().message()));
            m_list_reason = "its ledger is unreadable";
        } else if (!*read) {
            m_list_reason = "no ledger yet";
        } else if ((*read)->target != m_rep.target || (*read)->kind != m_rep.kind) {
            m_list_reason = fmt::format("its ledger is for {} {}", (*read)->kind, (*read)->target);
        } else {
            m_ledger = *read;
            m_next.ids = m_ledger->ids;
            m_next.copied = m_ledger->copied;
        }
        struct stat st {};
        if (m_marker_path && ::lstat(m_marker_path->c_str(), &st) == 0) {
            m_list_reason = "its last run was interrupted";
        }
    }
    if (m_ctx.job.reconcile) {
        m_list_reason = "--reconcile";
    }
}

bool DestinationRun::check_config() {
    if (auto opened = m_store->open(); !opened) {
        fail(opened.error());
        return false;
    }
    auto config = m_store->read_config(*m_ctx.source.config);
    if (!config) {
        fail(config.error());
        return false;
    }
    if (*config && **config != *m_ctx.source.config) {
        m_refused_config = true;
        fail(util::Error(ExitCode::permanent,
                         fmt::format("it holds a different config ({} bytes, SHA-256 {}): it is "
                                     "another repository; nothing was written there",
                                     (*config)->size(), util::sha256_hex(**config))));
        return false;
    }
    m_has_config = config->has_value();
    if (m_ledger && m_ledger->config_sha256 && !m_has_config && m_list_reason.empty()) {
        // It had a config when the ledger was written: emptied or replaced behind our back.
        m_list_reason = "its config is gone";
    }
    if (m_has_config) {
        m_next.config_sha256 = m_config_sha;
    }
    return true;
}

bool DestinationRun::mark_interrupted() {
    // From here on the destination may be written to. The marker is empty, so creating it is
    // atomic; it must be durable before any temporary file at the destination is (one fsync of
    // its directory, instead of atomic_write's two).
    if (m_marker_path) {
        auto created = util::open_fd(*m_marker_path, O_WRONLY | O_CREAT | O_NOFOLLOW, 0600);
        auto marked = created ? util::fsync_directory(std::string(path_parent(*m_marker_path)))
                              : std::unexpected(created.error());
        if (!marked) {
            fail(marked.error());
            return false;
        }
    }
    return true;
}

bool DestinationRun::reconcile_listing() {
    if (m_list_reason.empty()) {
        m_ledger_dirty = m_ledger && m_ledger->config_sha256 != m_next.config_sha256;
        return !m_ledger_dirty || save_ledger();
    }
    m_rep.listed_because = m_list_reason;
    auto listing = m_store->list();
    if (!listing) {
        fail(listing.error()); // the marker stays: temporary files may be left
        return false;
    }
    std::array<std::set<std::string>, k_replicate_phase_count> listed;
    for (const auto& file : listing->files) {
        auto phase = replicate_phase(classify_repository_path(file.relative));
        if (!phase || *phase == ReplicatePhase::config) {
            continue;
        }
        std::string id(path_file_name(file.relative));
        auto source_size = source_has(m_ctx.source, *phase, id)
                               ? m_ctx.source.size_of(file.relative)
                               : std::nullopt;
        if (source_size && *source_size != file.size) {
            m_differing.insert(file.relative);
            m_ctx.log(LogLevel::error,
                      fmt::format("unable to replicate {} to {}: the destination holds it with {} "
                                  "bytes, the source with {}; it is never overwritten (check it, "
                                  "and remove it by hand)",
                                  file.relative, m_target.label, file.size, *source_size));
            continue;
        }
        listed[phase_index(*phase)].insert(std::move(id));
    }
    note_listing(*listing, listed);
    // Copied files still there stay copied; whatever else the listing found was merely found.
    for (auto phase : k_replicate_phases) {
        auto& copied = m_next.copied[phase_index(phase)];
        std::erase_if(copied, [&](const auto& entry) {
            return !listed[phase_index(phase)].contains(entry.first);
        });
    }
    m_next.ids = std::move(listed);
    return save_ledger();
}

void DestinationRun::note_listing(
    const ReplicaListing& listing,
    const std::array<std::set<std::string>, k_replicate_phase_count>& listed) {
    m_rep.differing = m_differing.size();
    m_rep.listed_files = listing.files.size();
    m_rep.removed_temporaries = listing.removed_temporaries;
    m_ctx.log(LogLevel::info,
              fmt::format(
                  "{}: listed the destination ({}): {} repository files{}{}", m_target.label,
                  m_list_reason, m_rep.listed_files,
                  m_rep.removed_temporaries > 0
                      ? fmt::format(", removed {} stale temporary files", m_rep.removed_temporaries)
                      : std::string(),
                  m_ledger ? describe_repair(*m_ledger, listed) : std::string()));
}

bool DestinationRun::save_ledger(std::optional<ReplicatePhase> only) {
    if (!m_ledger_file) {
        return true;
    }
    if (auto written = m_ledger_file->save(m_next, only); !written) {
        fail(written.error());
        return false;
    }
    return true;
}

std::vector<std::string> DestinationRun::missing_files(ReplicatePhase phase) const {
    std::vector<std::string> todo;
    if (phase == ReplicatePhase::config) {
        if (!m_has_config) {
            todo.push_back("config");
        }
        return todo;
    }
    for_each_absent(m_ctx.source.ids[phase_index(phase)], m_next.ids[phase_index(phase)],
                    [&](const std::string& id) {
                        std::string relative = replica_path(phase, id);
                        if (!m_differing.contains(relative)) {
                            todo.push_back(std::move(relative));
                        }
                    });
    return todo;
}

void DestinationRun::copy_phases() {
    for (auto phase : k_replicate_phases) {
        if (!copy_phase(phase)) {
            return;
        }
    }
}

bool DestinationRun::copy_phase(ReplicatePhase phase) {
    std::vector<std::string> todo = missing_files(phase);
    if (todo.empty()) {
        return true;
    }
    CopyHook hook;
    if (m_ctx.options.before_copy) {
        hook = [&](std::string_view relative) {
            m_ctx.options.before_copy(m_target.destination.name, phase, relative);
        };
    }
    CopyOutcome outcome = m_store->copy(phase, todo, m_ctx.verifier, hook);
    auto& count = m_rep.copied[phase_index(phase)];
    count.files += outcome.sent;
    count.bytes += outcome.bytes;
    m_rep.already_there += outcome.already_there;
    m_rep.vanished += outcome.vanished.size();
    m_rep.refused += outcome.refused.size();
    m_ctx.report_refused(outcome.refused);
    for (const auto& relative : outcome.present) {
        std::string id(path_file_name(relative));
        const auto* read = m_ctx.verifier.find(relative);
        if (phase == ReplicatePhase::config) {
            m_has_config = true;
            m_next.config_sha256 = m_config_sha;
        } else if (outcome.found.contains(relative) || read == nullptr) {
            m_next.ids[phase_index(phase)].insert(id); // there already: never ours to delete
        } else {
            m_next.add_copied(phase, id, read->size);
        }
    }
    m_ctx.log(LogLevel::info,
              fmt::format("{}: {}: {}", m_target.label, to_string(phase), describe_count(outcome)));
    // Only this phase's files changed (config: its hash, which every save compares).
    if (!outcome.present.empty() && !save_ledger(phase)) {
        return false;
    }
    if (outcome.error) {
        fail(*outcome.error);
        return false;
    }
    return true;
}

void DestinationRun::retention() {
    const Destination& dest = m_target.destination;
    if (!m_ledger_file) {
        return; // no ledger: nothing is known to be ours
    }
    std::string state_dir = m_ctx.job.state_dir->string();
    auto hold = read_replica_hold(replica_hold_path(state_dir, dest.name), dest.name);
    if (!hold) {
        m_ctx.log(LogLevel::error, fmt::format("{}: {}; its deletions are held", m_target.label,
                                               hold.error().message()));
    }
    DeletionGate gate{!hold || hold->has_value(), m_ctx.job.confirm_deletions.contains(dest.name)};
    m_rep.frozen = gate.frozen;
    bool pending = std::any_of(m_next.copied.begin(), m_next.copied.end(), [](const auto& map) {
        return std::any_of(map.begin(), map.end(),
                           [](const auto& entry) { return entry.second.gone_since.has_value(); });
    });
    if (!dest.keep_deleted && !pending) {
        return; // forever, and nothing left from an earlier keep_deleted: no listing needed
    }
    const auto* present = m_ctx.presence();
    if (present == nullptr) {
        note_pending(gate);
        return;
    }
    if (note_source_deletions(m_next, *present, dest.keep_deleted, m_ctx.clock) && !save_ledger()) {
        return;
    }
    DeletionPlan plan = plan_deletions(m_next, dest, m_ctx.clock, gate);
    if (plan.held_because) {
        m_rep.state = ReplicaState::deletion_held;
        m_rep.held_because = plan.held_because;
        m_ctx.log(LogLevel::error,
                  fmt::format("unable to delete from {}: {}; {} files, {} due, are kept until "
                              "restic-replicate{} --confirm-deletions {}",
                              m_target.label, *plan.held_because, plan.due_files,
                              util::format_size(plan.due_bytes),
                              m_ctx.job.client.empty() ? "" : " --client " + m_ctx.job.client,
                              dest.name));
    } else {
        // The reverse of the copy order, each phase complete before the next.
        std::string hold_path = replica_hold_path(state_dir, dest.name);
        for (auto phase :
             {ReplicatePhase::snapshots, ReplicatePhase::index, ReplicatePhase::data}) {
            // A freeze made while this run goes on stops it before its next phase.
            struct stat st {};
            if (::lstat(hold_path.c_str(), &st) == 0 || errno != ENOENT) {
                gate.frozen = m_rep.frozen = true;
                m_rep.state = ReplicaState::deletion_held;
                m_rep.held_because = "its deletions were frozen during the run";
                break;
            }
            if (!delete_phase(phase, plan.due[phase_index(phase)])) {
                break;
            }
        }
    }
    note_pending(gate);
}

bool DestinationRun::delete_phase(ReplicatePhase phase, const std::vector<std::string>& ids) {
    if (ids.empty()) {
        return true;
    }
    std::vector<std::string> files;
    for (const auto& id : ids) {
        files.push_back(replica_path(phase, id));
    }
    RemoveOutcome outcome = m_store->remove(phase, files);
    auto& count = m_rep.deleted[phase_index(phase)];
    auto& copied = m_next.copied[phase_index(phase)];
    for (const auto& relative : outcome.removed) {
        std::string id(path_file_name(relative));
        if (auto it = copied.find(id); it != copied.end()) {
            count.bytes += it->second.size;
        }
        ++count.files;
        m_next.remove(phase, id);
    }
    if (!outcome.removed.empty()) {
        m_rep.last_deletion = m_ctx.now;
        m_ctx.log(LogLevel::info,
                  fmt::format("{}: {}: deleted {} file{}, {} bytes (gone from the source for {})",
                              m_target.label, to_string(phase), count.files,
                              count.files == 1 ? "" : "s", count.bytes,
                              format_keep_deleted(m_target.destination.keep_deleted)));
        if (!save_ledger()) {
            return false;
        }
    }
    if (outcome.error) {
        fail(*outcome.error);
        return false;
    }
    return true;
}

void DestinationRun::note_pending(const DeletionGate& gate) {
    DeletionPlan after = plan_deletions(m_next, m_target.destination, m_ctx.clock, gate);
    m_rep.pending_deletions = after.pending_files;
    m_rep.pending_deletion_bytes = after.pending_bytes;
    m_rep.next_deletion_due = after.next_due;
}

void DestinationRun::count_missing() {
    const SourceRepository& source = m_ctx.source;
    m_rep.missing_files += m_has_config ? 0 : 1;
    for (auto phase : k_replicate_phases) {
        if (phase == ReplicatePhase::config) {
            continue;
        }
        static const std::set<std::string> k_none;
        const auto& held = m_refused_config ? k_none : m_next.ids[phase_index(phase)];
        for_each_absent(source.ids[phase_index(phase)], held, [&](const std::string& id) {
            // Gone from the source during the run: nothing is missing any more.
            const auto* known = m_ctx.verifier.find(replica_path(phase, id));
            if (known && known->check == SourceCheck::vanished) {
                return;
            }
            ++m_rep.missing_files;
            if (phase == ReplicatePhase::snapshots) {
                ++m_rep.missing_snapshots;
                std::int64_t time = source.snapshot_time(id);
                if (!m_rep.newest_missing_snapshot || time > m_rep.newest_missing_snapshot->time) {
                    m_rep.newest_missing_snapshot = SnapshotRef{id, time};
                }
            }
        });
    }
}

DestinationReport DestinationRun::finish() {
    count_missing();
    bool unlisted = !m_ctx.source.unlisted.empty();
    if (m_rep.state == ReplicaState::ok && (m_rep.refused > 0 || m_rep.differing > 0 || unlisted)) {
        m_rep.state = ReplicaState::incomplete;
    }
    // Held deletions leave every source file copied: a success of the copy.
    if (m_rep.state == ReplicaState::ok || m_rep.state == ReplicaState::deletion_held) {
        m_rep.last_success = m_ctx.now;
    }
    double seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
    std::string behind;
    if (m_rep.missing_snapshots > 0 && m_rep.newest_missing_snapshot) {
        behind = fmt::format("; {} snapshot{} missing, the newest {} (arrived {})",
                             m_rep.missing_snapshots, m_rep.missing_snapshots == 1 ? "" : "s",
                             m_rep.newest_missing_snapshot->id.substr(0, 8),
                             util::format_time(m_rep.newest_missing_snapshot->time));
    }
    m_ctx.log(LogLevel::info,
              fmt::format("{}: {}: copied {} files, {} bytes in {:.1f} s; {} source files not "
                          "there{}",
                          m_target.label, to_string(m_rep.state), m_rep.files_copied(),
                          m_rep.bytes_copied(), seconds, m_rep.missing_files, behind));
    return m_rep;
}

} // namespace backup::core
