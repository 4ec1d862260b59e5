#include "state/certificate_cache.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <time.h>

#include "state/json_reader.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

namespace backup::core {

using util::Json;

namespace {

std::int64_t nanoseconds(const struct timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// One entry, or nullopt when any field is missing or of the wrong type: an entry that cannot be
// trusted is dropped, never half used.
template <typename Entry>
std::optional<Entry> read_entry(const Json& value) {
    if (!value.is_object()) {
        return std::nullopt;
    }
    auto number = [&](const char* key) -> std::optional<std::int64_t> {
        auto it = value.find(key);
        if (it == value.end() || !it->is_number_integer()) {
            return std::nullopt;
        }
        return it->template get<std::int64_t>();
    };
    auto device = number("device");
    auto inode = number("inode");
    auto size = number("size");
    auto mtime = number("mtime_ns");
    auto ctime = number("ctime_ns");
    auto not_after = number("not_after");
    if (!device || !inode || !size || !mtime || !ctime || !not_after) {
        return std::nullopt;
    }
    Entry e;
    e.stamp = {static_cast<std::uint64_t>(*device), static_cast<std::uint64_t>(*inode), *size,
               *mtime, *ctime};
    e.not_after = *not_after;
    return e;
}

} // namespace

util::Expected<FileStamp> stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return util::fail_errno(errno, "read " + path);
    }
    return FileStamp{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                     static_cast<std::int64_t>(st.st_size), nanoseconds(st.st_mtim),
                     nanoseconds(st.st_ctim)};
}

std::int64_t real_time_ns() {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return nanoseconds(now);
}

std::filesystem::path certificate_cache_path(const std::filesystem::path& root) {
    return root / "status" / "certificates.json";
}

CertificateCache::CertificateCache(const std::filesystem::path& root) {
    auto json = read_state_json(certificate_cache_path(root).string(), k_certificate_cache_schema);
    if (!json || !*json) {
        return; // none, unreadable or another schema: parse every certificate this time
    }
    auto certificates = (*json)->find("certificates");
    if (certificates == (*json)->end() || !certificates->is_object()) {
        return;
    }
    for (const auto& [path, value] : certificates->items()) {
        if (auto entry = read_entry<Entry>(value)) {
            m_loaded.emplace(path, *entry);
        }
    }
}

std::optional<std::int64_t> CertificateCache::lookup(const std::string& path,
                                                     const FileStamp& stamp) {
    std::lock_guard lock(m_mutex);
    auto it = m_loaded.find(path);
    if (it == m_loaded.end() || it->second.stamp != stamp) {
        return std::nullopt;
    }
    m_used.insert_or_assign(path, it->second);
    return it->second.not_after;
}

void CertificateCache::record(const std::string& path, const FileStamp& stamp,
                              std::int64_t not_after, std::int64_t stamped_at_ns) {
    constexpr std::int64_t k_racy_ns = k_racy_seconds * 1'000'000'000;
    if (stamp.ctime_ns > stamped_at_ns - k_racy_ns || stamp.mtime_ns > stamped_at_ns - k_racy_ns) {
        return;
    }
    std::lock_guard lock(m_mutex);
    m_used.insert_or_assign(path, Entry{stamp, not_after});
}

util::Expected<void> CertificateCache::save(const std::filesystem::path& root) {
    std::lock_guard lock(m_mutex);
    auto same = [](const Entry& a, const Entry& b) {
        return a.stamp == b.stamp && a.not_after == b.not_after;
    };
    if (std::equal(m_used.begin(), m_used.end(), m_loaded.begin(), m_loaded.end(),
                   [&](const auto& a, const auto& b) {
                       return a.first == b.first && same(a.second, b.second);
                   })) {
        return {};
    }
    Json certificates = Json::object();
    for (const auto& [path, e] : m_used) {
        certificates[path] = {{"device", static_cast<std::int64_t>(e.stamp.device)},
                              {"inode", static_cast<std::int64_t>(e.stamp.inode)},
                              {"size", e.stamp.size},
                              {"mtime_ns", e.stamp.mtime_ns},
                              {"ctime_ns", e.stamp.ctime_ns},
                              {"not_after", e.not_after}};
    }
    std::filesystem::path path = certificate_cache_path(root);
    TRY(util::make_directories(path.parent_path().string(), 0755));
    TRY(util::write_json_file(path.string(), {{"schema", k_certificate_cache_schema},
                                              {"certificates", std::move(certificates)}}));
    m_loaded = m_used;
    return {};
}

} // namespace backup::core
