// Streaming SHA-256 through OpenSSL's EVP interface.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::util {

class Sha256 {
public:
    using Digest = std::array<std::uint8_t, 32>;

    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(std::string_view data);
    // The digest of everything passed to update(); the object starts over afterwards.
    Digest finish();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Lowercase hexadecimal of bytes.
std::string to_hex(const std::uint8_t* data, std::size_t size);
std::string to_hex(const Sha256::Digest& digest);

// The SHA-256 of data, as 64 lowercase hex characters.
std::string sha256_hex(std::string_view data);

// The MD5 of data, as 32 lowercase hex characters: only to compare with the hash that a store
// reports (an S3 ETag), never to name or verify anything of ours.
std::string md5_hex(std::string_view data);

struct FileHash {
    std::string hex;        // 64 lowercase hex characters
    std::uint64_t size = 0; // bytes hashed
};

// Hashes what fd reads from its current offset to its end, in 1 MiB sequential reads; what names
// the file in errors. With drop_cache, tells the kernel after each chunk that the pages will not
// be needed again (posix_fadvise DONTNEED), so a full audit does not evict everything else from
// the page cache.
Expected<FileHash> sha256_fd(int fd, const std::string& what, bool drop_cache = false);
// The same for the file at path.
Expected<FileHash> sha256_file(const std::string& path, bool drop_cache = false);

} // namespace backup::util
