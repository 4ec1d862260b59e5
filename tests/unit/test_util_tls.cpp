#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/time.hpp"
#include "util/tls.hpp"

#include <catch2/catch.hpp>

using namespace backup::util;
using namespace std::chrono_literals;

TEST_CASE("tls: a private CA signs a server certificate with its names") {
    auto ca_key = generate_private_key();
    REQUIRE(ca_key);
    CHECK(ca_key->starts_with("-----BEGIN PRIVATE KEY-----"));
    auto ca = make_ca_certificate(*ca_key, "restic backup CA", 3650 * 24h);
    REQUIRE(ca);
    auto ca_info = read_certificate(*ca);
    REQUIRE(ca_info);
    CHECK(ca_info->ca);
    CHECK(ca_info->subject == "CN = restic backup CA");
    CHECK(ca_info->not_after - unix_now() > 3649LL * 86400);

    auto key = generate_private_key();
    REQUIRE(key);
    auto cert =
        issue_certificate(*ca, *ca_key, *key, {"backup.example.com", "10.0.0.5", "::1"}, 365 * 24h);
    REQUIRE(cert);
    auto info = read_certificate(*cert);
    REQUIRE(info);
    CHECK_FALSE(info->ca);
    CHECK(info->subject == "CN = backup.example.com");
    CHECK(info->issuer == "CN = restic backup CA");
    CHECK(info->names == std::vector<std::string>{"backup.example.com", "10.0.0.5", "::1"});
    CHECK(info->serial.size() >= 30);
    CHECK(info->fingerprint_sha256.size() == 64);
    auto again = issue_certificate(*ca, *ca_key, *key, {"backup.example.com"}, 365 * 24h);
    REQUIRE(again);
    CHECK(read_certificate(*again)->serial != info->serial);

    // OpenSSL's own tool agrees: the chain verifies, for the purpose of a TLS server.
    auto dir = TempDir::create_in_tmp("unit-tls");
    REQUIRE(dir);
    std::string ca_file = (dir->path() / "ca.pem").string();
    std::string cert_file = (dir->path() / "cert.pem").string();
    REQUIRE(atomic_write(ca_file, *ca, 0644));
    REQUIRE(atomic_write(cert_file, *cert, 0644));
    SpawnOptions o;
    o.argv = {"openssl", "verify", "-purpose", "sslserver", "-CAfile", ca_file, cert_file};
    o.env = current_environment();
    auto verified = run(o);
    REQUIRE(verified);
    INFO(verified->out << verified->err);
    CHECK(verified->success());
}

TEST_CASE("tls: what is not a certificate or a key is refused") {
    CHECK_FALSE(read_certificate("not a certificate"));
    CHECK_FALSE(make_ca_certificate("not a key", "x", 24h));
    auto ca_key = generate_private_key().value();
    auto ca = make_ca_certificate(ca_key, "ca", 24h).value();
    CHECK_FALSE(issue_certificate(ca, ca_key, generate_private_key().value(), {}, 24h));
}

TEST_CASE("tls: a certificate matches its own key and no other") {
    auto key = generate_private_key().value();
    auto other = generate_private_key().value();
    auto ca = make_ca_certificate(key, "ca", 24h).value();
    CHECK(certificate_matches_key(ca, key).value());
    CHECK_FALSE(certificate_matches_key(ca, other).value());
    CHECK_FALSE(certificate_matches_key(ca, "not a key"));
}
