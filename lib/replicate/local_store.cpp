#include "replicate/local_store.hpp"

#include "replicate/remote_source.hpp"

#include "state/replicate_ledger.hpp"
#include "util/dir.hpp"
#include "util/fs.hpp"
#include "util/parallel.hpp"
#include "util/scope_guard.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// What reading a source file into a temporary file found: the bytes' hash, or which side failed.
struct CopiedBytes {
    util::FileHash hash;
    std::optional<util::Error> read_error;  // the source could not be read: refuse it, go on
    std::optional<util::Error> write_error; // the destination could not be written: stop
    // A remote primary: the object is gone (a prune), or its read failed (a server error, the
    // network), which stops the batch as a destination's write error does: retrying may help.
    bool vanished = false;
    std::optional<util::Error> remote_error;
};

// Streams relative from a remote primary to out, hashing it as copy_and_hash does.
CopiedBytes stream_and_hash(RemoteSource& remote, const std::string& relative, int out,
                            const std::string& temp) {
    CopiedBytes copied;
    util::Sha256 hash;
    auto read = remote.read(relative, [&](std::string_view chunk) {
        hash.update(chunk);
        if (auto written = util::write_all(out, chunk, temp); !written) {
            copied.write_error = written.error();
            return false;
        }
        copied.hash.size += chunk.size();
        return true;
    });
    if (copied.write_error) {
        return copied;
    }
    if (!read) {
        copied.remote_error = read.error();
    } else if (*read == RemoteSource::Read::gone) {
        copied.vanished = true;
    } else {
        copied.hash.hex = util::to_hex(hash.finish());
    }
    return copied;
}

// Reads in once and writes what it read to out, hashing it: the bytes that are hashed are the
// bytes that are written.
CopiedBytes copy_and_hash(int in, int out, const std::string& source, const std::string& temp) {
    constexpr std::size_t k_chunk = 1 << 20;
    thread_local std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(k_chunk);
    CopiedBytes copied;
    util::Sha256 hash;
    for (;;) {
        ssize_t n = ::read(in, buffer.get(), k_chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            copied.read_error = util::fail_errno(errno, fmt::format("read {}", source)).error();
            return copied;
        }
        if (n == 0) {
            break;
        }
        std::string_view chunk(buffer.get(), static_cast<std::size_t>(n));
        hash.update(chunk);
        if (auto written = util::write_all(out, chunk, temp); !written) {
            copied.write_error = written.error();
            return copied;
        }
        copied.hash.size += static_cast<std::uint64_t>(n);
    }
    copied.hash.hex = util::to_hex(hash.finish());
    return copied;
}

// Whether the file already at final_path holds the bytes whose SHA-256 is actual.
bool same_content(const std::string& final_path, const std::string& actual) {
    auto there = util::sha256_file(final_path);
    return there && there->hex == actual;
}

} // namespace

LocalReplicaStore::LocalReplicaStore(fs::path dir, bool group_readable)
    : m_dir(std::move(dir)), m_target(m_dir.string()), m_file_mode(group_readable ? 0440 : 0400),
      m_dir_mode(group_readable ? 0750 : 0700) {}

Expected<void> LocalReplicaStore::open() {
    auto fd = util::open_fd(m_target, O_RDONLY | O_DIRECTORY);
    if (!fd) {
        if (fd.error().errno_code() == ENOENT) {
            return util::fail(ExitCode::temporary,
                              "open {}: the directory does not exist (create it, or mount the "
                              "disk it is on)",
                              m_target);
        }
        return std::unexpected(fd.error());
    }
    // The lock keeps two runs from removing each other's temporary files.
    m_lock = util::FileLock::try_lock_fd(std::move(*fd));
    if (!m_lock) {
        return util::fail(ExitCode::temporary, "lock {}: another restic-replicate is copying to it",
                          m_target);
    }
    m_known_dirs.insert("");
    return {};
}

Expected<std::optional<std::string>> LocalReplicaStore::read_config(std::string_view /*expected*/) {
    std::string path = (m_dir / "config").string();
    auto fd = util::open_fd(path, O_RDONLY | O_NOFOLLOW);
    if (!fd) {
        if (fd.error().errno_code() == ENOENT) {
            return std::optional<std::string>{};
        }
        return std::unexpected(fd.error());
    }
    return std::optional<std::string>(TRY(util::read_all(fd->get(), path)));
}

Expected<void> LocalReplicaStore::list_directory(const std::string& relative_dir,
                                                 ReplicaListing& listing) {
    fs::path dir = relative_dir.empty() ? m_dir : m_dir / relative_dir;
    auto entries = util::read_directory(dir.string());
    if (!entries) {
        // Missing, or something else in the way (the copy will say so): nothing listed there.
        int err = entries.error().errno_code();
        return err == ENOENT || err == ENOTDIR ? Expected<void>{}
                                               : std::unexpected(entries.error());
    }
    m_known_dirs.insert(relative_dir);
    for (const auto& entry : *entries) {
        fs::path path = dir / entry.name;
        if (is_replica_temporary_name(entry.name)) {
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
                return util::fail_errno(errno, fmt::format("remove {}", path.string()));
            }
            ++listing.removed_temporaries;
            continue;
        }
        std::string relative = relative_dir.empty() ? entry.name : relative_dir + "/" + entry.name;
        if (entry.type != util::EntryType::regular ||
            !replicate_phase(classify_repository_path(relative))) {
            continue;
        }
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            listing.files.push_back({std::move(relative), static_cast<std::uint64_t>(st.st_size)});
        }
    }
    return {};
}

Expected<ReplicaListing> LocalReplicaStore::list() {
    ReplicaListing listing;
    std::vector<std::string> dirs = {"", "keys", "index", "snapshots"};
    auto data = util::read_directory((m_dir / "data").string(), util::IfMissing::empty);
    if (!data && data.error().errno_code() != ENOTDIR) {
        return std::unexpected(data.error());
    }
    for (const auto& entry : data.value_or(std::vector<util::DirEntry>{})) {
        if (entry.type == util::EntryType::directory) {
            dirs.push_back("data/" + entry.name);
        }
    }
    for (const auto& relative_dir : dirs) {
        TRY(list_directory(relative_dir, listing));
    }
    return listing;
}

Expected<void> LocalReplicaStore::ensure_directory(const std::string& relative_dir,
                                                   std::set<std::string>& touched) {
    if (m_known_dirs.contains(relative_dir)) {
        return {};
    }
    std::string parent(path_parent(relative_dir));
    TRY(ensure_directory(parent, touched));
    fs::path path = m_dir / relative_dir;
    if (::mkdir(path.c_str(), static_cast<mode_t>(m_dir_mode)) == 0) {
        // The new entry in its parent must be durable before the files in it are relied on.
        touched.insert(parent);
    } else if (errno != EEXIST) {
        return util::fail_errno(errno, fmt::format("create directory {}", path.string()));
    } else {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
            return util::fail(ExitCode::permanent, "create directory {}: something else is there",
                              path.string());
        }
    }
    m_known_dirs.insert(relative_dir);
    return {};
}

bool LocalReplicaStore::skip_known(const std::string& relative, const SourceVerifier& verifier,
                                   CopyOutcome& outcome) {
    const auto* known = verifier.find(relative);
    if (known == nullptr || known->check == SourceCheck::good) {
        return false;
    }
    (known->check == SourceCheck::vanished ? outcome.vanished : outcome.refused)
        .push_back(relative);
    return true;
}

bool LocalReplicaStore::copy_file(const std::string& relative, SourceVerifier& verifier,
                                  CopyBatch& batch) {
    CopyOutcome& outcome = batch.outcome;
    if (skip_known(relative, verifier, outcome)) {
        return true;
    }
    std::string source_path = (fs::path(verifier.root()) / relative).string();
    auto in = util::open_fd(source_path, O_RDONLY | O_NOFOLLOW);
    if (!in) {
        bool gone = in.error().errno_code() == ENOENT;
        verifier.record(relative, {gone ? SourceCheck::vanished : SourceCheck::unreadable,
                                   0,
                                   {},
                                   gone ? std::string() : in.error().message()});
        (gone ? outcome.vanished : outcome.refused).push_back(relative);
        return true;
    }
    ::posix_fadvise(in->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    std::string relative_dir(path_parent(relative));
    if (auto made = ensure_directory(relative_dir, batch.touched); !made) {
        outcome.error = made.error();
        return false;
    }
    fs::path final_path = m_dir / relative;
    std::string temp = fmt::format("{}{}XXXXXX", final_path.string(), k_replica_temporary_marker);
    int raw = ::mkostemp(temp.data(), O_CLOEXEC);
    if (raw < 0) {
        outcome.error = util::fail_errno(errno, fmt::format("create a temporary file in {}",
                                                            (m_dir / relative_dir).string()))
                            .error();
        return false;
    }
    util::Fd out(raw);
    util::ScopeGuard remove_temp([&] { ::unlink(temp.c_str()); });
    CopiedBytes copied = copy_and_hash(in->get(), out.get(), source_path, temp);
    if (copied.write_error) {
        outcome.error = copied.write_error;
        return false;
    }
    if (copied.read_error) {
        verifier.record(
            relative,
            {SourceCheck::unreadable, copied.hash.size, {}, copied.read_error->message()});
        outcome.refused.push_back(relative);
        return true;
    }
    auto state = judge_content(relative, copied.hash.hex, copied.hash.size);
    bool good = state.check == SourceCheck::good;
    verifier.record(relative, std::move(state));
    if (!good) {
        outcome.refused.push_back(relative);
        return true;
    }
    if (auto error = make_durable(out, temp)) {
        outcome.error = std::move(error);
        return false;
    }
    bool renamed = false;
    bool go_on = publish(relative, temp, copied.hash.hex, copied.hash.size, batch, renamed);
    if (renamed) {
        remove_temp.dismiss();
    }
    return go_on;
}

std::optional<util::Error> LocalReplicaStore::make_durable(util::Fd& out,
                                                           const std::string& temp) const {
    if (::fchmod(out.get(), static_cast<mode_t>(m_file_mode)) != 0) {
        return util::fail_errno(errno, fmt::format("set the mode of {}", temp)).error();
    }
    if (::fsync(out.get()) != 0) {
        return util::fail_errno(errno, fmt::format("fsync {}", temp)).error();
    }
    out.reset();
    return std::nullopt;
}

bool LocalReplicaStore::publish(const std::string& relative, const std::string& temp,
                                const std::string& actual, std::uint64_t size, CopyBatch& batch,
                                bool& renamed) {
    CopyOutcome& outcome = batch.outcome;
    std::string final_path = (m_dir / relative).string();
    auto done = util::rename_noreplace(temp, final_path);
    if (!done) {
        outcome.error = done.error();
        return false;
    }
    if (!*done) {
        // Already there (a run whose ledger write was lost, or a change behind our back):
        // never replaced; fine when it holds the same content.
        if (!same_content(final_path, actual)) {
            outcome.error = util::Error(ExitCode::permanent,
                                        fmt::format("unable to copy {}: {} exists with other "
                                                    "content; it is never overwritten",
                                                    relative, final_path));
            return false;
        }
        ++outcome.already_there;
        outcome.present.push_back(relative);
        outcome.found.insert(relative);
        return true;
    }
    renamed = true;
    batch.touched.insert(std::string(path_parent(relative)));
    ++outcome.sent;
    outcome.bytes += size;
    outcome.present.push_back(relative);
    return true;
}

namespace {

// A remote primary's files are read 8 at a time: the time goes to waiting for the store.
constexpr std::size_t k_remote_workers = 8;

// One file of a remote primary's chunk: its temporary file and what streaming into it found.
struct Fetch {
    std::string relative;
    std::string temp; // emptied once it is published
    util::Fd out;
    CopiedBytes copied;
    std::optional<SourceFileState> state; // when the stream completed
    std::optional<util::Error> durable_error;
};

} // namespace

bool LocalReplicaStore::copy_remote_chunk(const std::vector<std::string>& files,
                                          SourceVerifier& verifier, CopyBatch& batch) {
    CopyOutcome& outcome = batch.outcome;
    std::vector<Fetch> fetches;
    fetches.reserve(files.size());
    // Every temporary file that is not published goes, on every path.
    util::ScopeGuard remove_temps([&] {
        for (const auto& f : fetches) {
            if (!f.temp.empty()) {
                ::unlink(f.temp.c_str());
            }
        }
    });
    std::optional<util::Error> stop;
    for (const auto& relative : files) {
        if (skip_known(relative, verifier, outcome)) {
            continue;
        }
        std::string relative_dir(path_parent(relative));
        if (auto made = ensure_directory(relative_dir, batch.touched); !made) {
            stop = made.error();
            break;
        }
        std::string temp =
            fmt::format("{}{}XXXXXX", (m_dir / relative).string(), k_replica_temporary_marker);
        int raw = ::mkostemp(temp.data(), O_CLOEXEC);
        if (raw < 0) {
            stop = util::fail_errno(errno, fmt::format("create a temporary file in {}",
                                                       (m_dir / relative_dir).string()))
                       .error();
            break;
        }
        fetches.push_back({relative, std::move(temp), util::Fd(raw), {}, {}, {}});
    }
    util::parallel_for_waiting(fetches.size(), k_remote_workers, [&](std::size_t i) {
        Fetch& f = fetches[i];
        f.copied = stream_and_hash(*verifier.remote(), f.relative, f.out.get(), f.temp);
        if (f.copied.write_error || f.copied.remote_error || f.copied.vanished) {
            return;
        }
        f.state = judge_content(f.relative, f.copied.hash.hex, f.copied.hash.size);
        if (f.state->check == SourceCheck::good) {
            f.durable_error = make_durable(f.out, f.temp);
        }
    });
    // In order: what verified is published until the first failure; nothing after it is.
    for (auto& f : fetches) {
        for (const auto* error :
             {&f.copied.write_error, &f.copied.remote_error, &f.durable_error}) {
            if (*error) {
                outcome.error = **error;
                return false;
            }
        }
        if (f.copied.vanished) {
            verifier.record(f.relative, {SourceCheck::vanished, 0, {}, {}});
            outcome.vanished.push_back(f.relative);
            continue;
        }
        bool good = f.state->check == SourceCheck::good;
        verifier.record(f.relative, std::move(*f.state));
        if (!good) {
            outcome.refused.push_back(f.relative);
            continue;
        }
        bool renamed = false;
        bool go_on =
            publish(f.relative, f.temp, f.copied.hash.hex, f.copied.hash.size, batch, renamed);
        if (renamed) {
            f.temp.clear();
        }
        if (!go_on) {
            return false;
        }
    }
    if (stop) {
        outcome.error = std::move(stop);
        return false;
    }
    return true;
}

CopyOutcome LocalReplicaStore::copy(ReplicatePhase phase, const std::vector<std::string>& files,
                                    SourceVerifier& verifier, const CopyHook& before_each) {
    CopyOutcome outcome;
    CopyBatch batch{outcome, {}, phase != ReplicatePhase::config};
    // A remote primary's files in chunks of k_remote_workers, read at once, so that at most
    // that many temporary files exist at a time.
    std::size_t chunk = verifier.remote() != nullptr ? k_remote_workers : 1;
    for (std::size_t at = 0; at < files.size(); at += chunk) {
        std::vector<std::string> part(
            files.begin() + static_cast<std::ptrdiff_t>(at),
            files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), at + chunk)));
        for (const auto& relative : part) {
            if (before_each) {
                before_each(relative);
            }
        }
        bool go_on = verifier.remote() != nullptr ? copy_remote_chunk(part, verifier, batch)
                                                  : copy_file(part.front(), verifier, batch);
        if (!go_on) {
            break;
        }
    }
    // One fsync per directory and phase: a crash may lose the last renames of a phase, but the
    // files of the next phase are only renamed once this phase's are durable.
    for (const auto& relative_dir : batch.touched) {
        fs::path dir = relative_dir.empty() ? m_dir : m_dir / relative_dir;
        if (auto synced = util::fsync_directory(dir.string()); !synced) {
            outcome.error = synced.error();
            outcome.present.clear(); // not durable: the ledger must not claim them
            break;
        }
    }
    return outcome;
}

RemoveOutcome LocalReplicaStore::remove(ReplicatePhase phase,
                                        const std::vector<std::string>& files) {
    RemoveOutcome outcome;
    std::vector<std::string> unlinked;
    std::set<std::string> touched;
    for (const auto& relative : files) {
        auto kind = replicate_phase(classify_repository_path(relative));
        if (!is_deletable_phase(phase) || kind != phase) {
            outcome.error = util::Error(
                ExitCode::permanent,
                fmt::format("unable to delete {}: not a file of {}", relative, to_string(phase)));
            break;
        }
        std::string path = (m_dir / relative).string();
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            outcome.error = util::fail_errno(errno, fmt::format("delete {}", path)).error();
            break;
        }
        touched.insert(std::string(path_parent(relative)));
        unlinked.push_back(relative);
    }
    // Removed only once the directory entries' removal is durable: a crash before that may
    // bring files back, which the ledger then still lists (they are deleted again later).
    for (const auto& relative_dir : touched) {
        if (auto synced = util::fsync_directory((m_dir / relative_dir).string()); !synced) {
            outcome.error = synced.error();
            return outcome;
        }
    }
    outcome.removed = std::move(unlinked);
    return outcome;
}

} // namespace backup::core
