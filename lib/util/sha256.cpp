#include "util/sha256.hpp"

#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include <openssl/evp.h>

#include "util/fd.hpp"

namespace backup::util {

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
};

namespace {

void init_context(EVP_MD_CTX* ctx) {
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL could not initialise SHA-256");
    }
}

} // namespace

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {
    m_impl->ctx = EVP_MD_CTX_new();
    if (m_impl->ctx == nullptr) {
        throw std::bad_alloc();
    }
    init_context(m_impl->ctx);
}

Sha256::~Sha256() {
    if (m_impl) {
        EVP_MD_CTX_free(m_impl->ctx);
    }
}

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&& other) noexcept {
    if (this != &other) {
        if (m_impl) {
            EVP_MD_CTX_free(m_impl->ctx);
        }
        m_impl = std::move(other.m_impl);
    }
    return *this;
}

void Sha256::update(std::string_view data) {
    if (EVP_DigestUpdate(m_impl->ctx, data.data(), data.size()) != 1) {
        throw std::runtime_error("OpenSSL SHA-256 update failed");
    }
}

Sha256::Digest Sha256::finish() {
    Digest digest{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(m_impl->ctx, digest.data(), &size) != 1 || size != digest.size()) {
        throw std::runtime_error("OpenSSL SHA-256 final failed");
    }
    init_context(m_impl->ctx);
    return digest;
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out(size * 2, '0');
    for (std::size_t i = 0; i < size; ++i) {
        out[2 * i] = k_digits[data[i] >> 4];
        out[2 * i + 1] = k_digits[data[i] & 0x0f];
    }
    return out;
}

std::string to_hex(const Sha256::Digest& digest) {
    return to_hex(digest.data(), digest.size());
}

std::string sha256_hex(std::string_view data) {
    Sha256 hash;
    hash.update(data);
    return to_hex(hash.finish());
}

std::string md5_hex(std::string_view data) {
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_md5(), nullptr) != 1) {
        throw std::runtime_error("EVP_Digest(MD5) failed");
    }
    return to_hex(digest.data(), size);
}

Expected<FileHash> sha256_fd(int fd, const std::string& what, bool drop_cache) {
    constexpr std::size_t k_chunk = 1 << 20;
    // One buffer per thread, not one per file: most packs are a few MiB, and the audit hashes
    // with a thread pool.
    thread_local std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(k_chunk);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    Sha256 hash;
    FileHash result;
    for (;;) {
        ssize_t n = ::read(fd, buffer.get(), k_chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, fmt::format("read {}", what));
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
    result.hex = to_hex(hash.finish());
    return result;
}

Expected<FileHash> sha256_file(const std::string& path, bool drop_cache) {
    Fd fd = TRY(open_fd(path, O_RDONLY));
    return sha256_fd(fd.get(), path, drop_cache);
}

} // namespace backup::util
