// backup-status's memory of certificate expiry dates, so that a run over a thousand clients does
// not parse a thousand certificates. Invariant: a recorded date is used only for a file whose
// device, inode, size, and modification and change times (to the nanosecond) are those it had
// when it was parsed. Writing a file, renaming another over it or changing its mode changes its
// change time, which no one can set back, so a changed certificate is always read again. The
// kernel keeps those times in coarse ticks, so a file changed twice within one tick could keep
// its stamp: as git does with its index, a file whose change time is within k_racy_seconds of
// the moment it was stamped is not recorded, and is parsed again on the next run. A
// missing, unreadable or invalid cache is only slower, never wrong; certificates are public, so
// nothing secret is kept.
//
// File: ROOT/status/certificates.json (0644, replaced atomically), JSON, schema 1:
//   {"schema": 1, "certificates": {PATH: {"device": N, "inode": N, "size": N,
//                                         "mtime_ns": N, "ctime_ns": N, "not_after": UNIX}}}
// It holds the certificates the last run looked at, no others.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "util/error.hpp"

namespace backup::core {

inline constexpr int k_certificate_cache_schema = 1;
inline constexpr std::int64_t k_racy_seconds = 2;

// What identifies one version of a file.
struct FileStamp {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

// The stamp of the file at path (stat(2), following links); errno-coded error when it fails.
util::Expected<FileStamp> stamp_of(const std::string& path);
// The real time now, nanoseconds since the epoch (to pass as stamped_at_ns).
std::int64_t real_time_ns();

std::filesystem::path certificate_cache_path(const std::filesystem::path& root);

// Safe to use from several threads at once.
class CertificateCache {
public:
    CertificateCache() = default;
    // The cache under root; empty when there is none or it cannot be used.
    explicit CertificateCache(const std::filesystem::path& root);

    // The expiry recorded for path when its stamp is still stamp.
    std::optional<std::int64_t> lookup(const std::string& path, const FileStamp& stamp);
    // Remembers not_after for the file at path as it was at stamp, taken at stamped_at_ns (the
    // real time, nanoseconds since the epoch) before the file was read; a racy stamp is not kept.
    void record(const std::string& path, const FileStamp& stamp, std::int64_t not_after,
                std::int64_t stamped_at_ns);

    // Writes what this run looked at when that differs from what was loaded (making ROOT/status,
    // 0755). Unwritable: the error (a caller without the right may ignore it).
    util::Expected<void> save(const std::filesystem::path& root);

private:
    struct Entry {
        FileStamp stamp;
        std::int64_t not_after = 0;
    };
    std::mutex m_mutex;
    std::map<std::string, Entry> m_loaded;
    std::map<std::string, Entry> m_used; // looked up and still valid, or recorded
};

} // namespace backup::core
