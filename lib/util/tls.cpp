#include "util/tls.hpp"

#include <arpa/inet.h>
#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/socket.hpp"

namespace backup::util {

namespace {

// RAII for OpenSSL's objects.
template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using SslCtx = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

// The newest OpenSSL error, one line.
std::string openssl_error() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown OpenSSL error";
    }
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    return buffer;
}

std::unexpected<Error> ssl_failure(std::string_view what) {
    return fail(ExitCode::temporary, "{}: {}", what, openssl_error());
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

Expected<Key> parse_key(const std::string& pem) {
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
        return fail(ExitCode::permanent, "read a private key: {}", openssl_error());
    }
    return key;
}

Expected<Cert> parse_certificate(const std::string& pem) {
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert) {
        return fail(ExitCode::permanent, "read a certificate: {}", openssl_error());
    }
    return cert;
}

bool is_ip_literal(const std::string& name) {
    unsigned char buffer[16];
    return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
           inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

// A fresh certificate for key with a random serial, validity from now, and subject CN.
Expected<Cert> new_certificate(EVP_PKEY* key, const std::string& common_name,
                               std::chrono::seconds validity) {
    Cert cert(X509_new());
    Bignum serial(BN_new());
    if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
        BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
        return ssl_failure("make a certificate");
    }
    // A minute of slack for clocks that are a little behind.
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()));
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) != 1 ||
        X509_set_pubkey(cert.get(), key) != 1) {
        return ssl_failure("make a certificate");
    }
    return cert;
}

Expected<void> add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) {
        return ssl_failure(fmt::format("add the extension {}", value));
    }
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? Expected<void>{} : ssl_failure(fmt::format("add the extension {}", value));
}

Expected<std::string> sign_and_write(X509* cert, EVP_PKEY* signer) {
    if (X509_sign(cert, signer, EVP_sha256()) == 0) {
        return ssl_failure("sign a certificate");
    }
    Bio out(BIO_new(BIO_s_mem()));
    if (!out || PEM_write_bio_X509(out.get(), cert) != 1) {
        return ssl_failure("write a certificate");
    }
    return bio_text(out.get());
}

std::int64_t to_unix(const ASN1_TIME* time) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(time, &tm) != 1) {
        return 0;
    }
    return static_cast<std::int64_t>(::timegm(&tm));
}

std::string name_text(const X509_NAME* name) {
    Bio out(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    return bio_text(out.get());
}

std::vector<std::string> alt_names(X509* cert) {
    std::vector<std::string> out;
    Names names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
        if (n->type == GEN_DNS) {
            const ASN1_STRING* s = n->d.dNSName;
            out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s)));
        } else if (n->type == GEN_IPADD) {
            const ASN1_STRING* s = n->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = {};
            int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
            inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text);
            out.emplace_back(text);
        }
    }
    return out;
}

CertificateInfo describe(X509* cert) {
    CertificateInfo info;
    info.subject = name_text(X509_get_subject_name(cert));
    info.issuer = name_text(X509_get_issuer_name(cert));
    Bignum serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    if (char* hex = serial ? BN_bn2hex(serial.get()) : nullptr) {
        info.serial = hex;
        OPENSSL_free(hex);
    }
    info.not_before = to_unix(X509_get0_notBefore(cert));
    info.not_after = to_unix(X509_get0_notAfter(cert));
    info.names = alt_names(cert);
    info.ca = X509_check_ca(cert) != 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (X509_digest(cert, EVP_sha256(), digest, &size) == 1) {
        info.fingerprint_sha256 = to_hex(digest, size);
    }
    return info;
}

} // namespace

Expected<std::string> generate_private_key() {
    Key key(EVP_EC_gen("P-256"));
    Bio out(BIO_new(BIO_s_mem()));
    if (!key || !out ||
        PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1) {
        return ssl_failure("make a private key");
    }
    return bio_text(out.get());
}

Expected<std::string> make_ca_certificate(const std::string& key_pem,
                                          const std::string& common_name,
                                          std::chrono::seconds validity) {
    Key key = TRY(parse_key(key_pem));
    Cert cert = TRY(new_certificate(key.get(), common_name, validity));
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
    TRY(add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
    TRY(add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
    TRY(add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
    return sign_and_write(cert.get(), key.get());
}

Expected<std::string> issue_certificate(const std::string& ca_pem, const std::string& ca_key_pem,
                                        const std::string& key_pem,
                                        const std::vector<std::string>& names,
                                        std::chrono::seconds validity) {
    if (names.empty()) {
        return fail(ExitCode::permanent, "issue a certificate: no names for it");
    }
    Cert ca = TRY(parse_certificate(ca_pem));
    Key ca_key = TRY(parse_key(ca_key_pem));
    Key key = TRY(parse_key(key_pem));
    Cert cert = TRY(new_certificate(key.get(), names.front(), validity));
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
    std::string alt;
    for (const auto& name : names) {
        alt += fmt::format("{}{}:{}", alt.empty() ? "" : ",", is_ip_literal(name) ? "IP" : "DNS",
                           name);
    }
    TRY(add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
    TRY(add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature"));
    TRY(add_extension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth"));
    TRY(add_extension(cert.get(), ca.get(), NID_subject_alt_name, alt));
    TRY(add_extension(cert.get(), ca.get(), NID_subject_key_identifier, "hash"));
    TRY(add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always"));
    return sign_and_write(cert.get(), ca_key.get());
}

Expected<CertificateInfo> read_certificate(const std::string& pem) {
    Cert cert = TRY(parse_certificate(pem));
    return describe(cert.get());
}

Expected<bool> certificate_matches_key(const std::string& certificate_pem,
                                       const std::string& key_pem) {
    Cert cert = TRY(parse_certificate(certificate_pem));
    Key key = TRY(parse_key(key_pem));
    ERR_clear_error();
    bool matches = X509_check_private_key(cert.get(), key.get()) == 1;
    ERR_clear_error();
    return matches;
}

Expected<CertificateInfo> read_certificate_file(const std::string& path) {
    std::string pem = TRY(read_file(path));
    auto info = read_certificate(pem);
    if (!info) {
        return std::unexpected(info.error().with_context(path));
    }
    return info;
}

namespace {

Expected<SslCtx> client_context(const std::vector<std::string>& ca_files) {
    SslCtx ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        return ssl_failure("set up TLS");
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr); // verified below, to say why not
    if (ca_files.empty()) {
        SSL_CTX_set_default_verify_paths(ctx.get());
    }
    for (const auto& file : ca_files) {
        if (SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr) != 1) {
            return fail(ExitCode::permanent, "load the CA certificates in {}: {}", file,
                        openssl_error());
        }
    }
    return ctx;
}

} // namespace

Expected<TlsProbe> probe_tls(const std::string& address, int port, const std::string& server_name,
                             const std::vector<std::string>& ca_files,
                             std::chrono::milliseconds timeout) {
    std::string where = fmt::format("{}:{}", address, port);
    SslCtx ctx = TRY(client_context(ca_files));
    Fd sock = TRY(connect_tcp(address, port, timeout));
    Ssl ssl(SSL_new(ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), sock.get()) != 1) {
        return ssl_failure(fmt::format("set up TLS to {}", where));
    }
    if (!is_ip_literal(server_name)) {
        // SSL_set_tlsext_host_name without its C cast.
        SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(server_name.c_str()));
    }
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    if (is_ip_literal(server_name)
            ? X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1
            : X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0) != 1) {
        return ssl_failure(fmt::format("set up TLS to {}", where));
    }
    if (SSL_connect(ssl.get()) != 1) {
        return fail(ExitCode::temporary, "make a TLS connection to {}: {}", where, openssl_error());
    }
    TlsProbe probe;
    Cert served(SSL_get1_peer_certificate(ssl.get()));
    if (!served) {
        return fail(ExitCode::temporary, "make a TLS connection to {}: no certificate", where);
    }
    probe.served = describe(served.get());
    long result = SSL_get_verify_result(ssl.get());
    probe.verified = result == X509_V_OK;
    if (!probe.verified) {
        probe.verify_error = X509_verify_cert_error_string(result);
    }
    SSL_shutdown(ssl.get());
    return probe;
}

} // namespace backup::util
