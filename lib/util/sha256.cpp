#include "util/sha256.hpp"

#include <cerrno>
#include <fcntl.h>
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

std::string to_hex(const Sha256::Digest& digest) { return to_hex(digest.data(), digest.size()); }

std::string sha256_hex(std::string_view data) {
    Sha256 hash;
    hash.update(data);
    return to_hex(hash.finish());
}

Expected<FileHash> sha256_file(const std::string& path, bool drop_cache) {
    auto fd = open_fd(path, O_RDONLY);
    if (!fd) {
        return std::unexpected(fd.error());
    }
    ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    constexpr std::size_t k_chunk = 1 << 20;
    std::vector<char> buffer(k_chunk);
    Sha256 hash;
    FileHash result;
    for (;;) {
        ssize_t n = ::read(fd->get(), buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail_errno(errno, fmt::format("read {}", path));
        }
        if (n == 0) {
            break;
        }
        hash.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        if (drop_cache) {
            ::posix_fadvise(fd->get(), static_cast<off_t>(result.size), n, POSIX_FADV_DONTNEED);
        }
        result.size += static_cast<std::uint64_t>(n);
    }
    result.hex = to_hex(hash.finish());
    return result;
}

} // namespace backup::util
