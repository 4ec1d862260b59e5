// backup-status's cache of certificate expiry dates: used only for a file whose stamp is
// unchanged, never for a racy stamp, and holding only what the last run looked at.
#include "state/certificate_cache.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

using namespace backup;
using namespace backup::core;
using util::TempDir;

namespace {

constexpr std::int64_t k_later = 3600LL * 1'000'000'000; // an hour after the file changed

FileStamp stamp(const std::string& path) {
    auto s = stamp_of(path);
    REQUIRE(s);
    return *s;
}

} // namespace

TEST_CASE("state: a certificate's expiry is remembered for the file as it was") {
    auto dir = TempDir::create_in_tmp("unit-certcache");
    REQUIRE(dir);
    std::string cert = (dir->path() / "cert.pem").string();
    REQUIRE(util::atomic_write(cert, "one", 0644));
    FileStamp first = stamp(cert);
    {
        CertificateCache cache(dir->path());
        CHECK_FALSE(cache.lookup(cert, first));
        cache.record(cert, first, 1'900'000'000, first.ctime_ns + k_later);
        REQUIRE(cache.save(dir->path()));
    }
    CertificateCache cache(dir->path());
    CHECK(cache.lookup(cert, first) == 1'900'000'000);

    SECTION("any field of the stamp that differs is another file") {
        for (auto change : {&FileStamp::size, &FileStamp::mtime_ns, &FileStamp::ctime_ns}) {
            FileStamp other = first;
            other.*change += 1;
            CHECK_FALSE(cache.lookup(cert, other));
        }
        FileStamp moved = first;
        moved.inode += 1;
        CHECK_FALSE(cache.lookup(cert, moved));
        moved = first;
        moved.device += 1;
        CHECK_FALSE(cache.lookup(cert, moved));
        CHECK_FALSE(cache.lookup(cert + ".other", first));
    }
    SECTION("a file replaced by rename has another stamp") {
        REQUIRE(util::atomic_write(cert, "two", 0644));
        CHECK_FALSE(cache.lookup(cert, stamp(cert)));
    }
}

TEST_CASE("state: a stamp taken within the racy window is not remembered") {
    auto dir = TempDir::create_in_tmp("unit-certcache");
    REQUIRE(dir);
    std::string cert = (dir->path() / "cert.pem").string();
    REQUIRE(util::atomic_write(cert, "one", 0644));
    FileStamp s = stamp(cert);
    CertificateCache cache(dir->path());
    cache.record(cert, s, 1'900'000'000, s.ctime_ns + 1'000'000'000); // a second after it changed
    CHECK_FALSE(cache.lookup(cert, s));
    REQUIRE(cache.save(dir->path()));
    CHECK_FALSE(CertificateCache(dir->path()).lookup(cert, s));
    cache.record(cert, s, 1'900'000'000, real_time_ns()); // just now: racy too
    CHECK_FALSE(cache.lookup(cert, s));
}

TEST_CASE("state: the certificate cache keeps only what the last run looked at") {
    auto dir = TempDir::create_in_tmp("unit-certcache");
    REQUIRE(dir);
    FileStamp s{1, 2, 3, 4, 5};
    {
        CertificateCache cache(dir->path());
        cache.record("/a", s, 10, k_later);
        cache.record("/b", s, 20, k_later);
        REQUIRE(cache.save(dir->path()));
    }
    {
        CertificateCache cache(dir->path());
        CHECK(cache.lookup("/a", s) == 10); // /b is not looked at: a removed client
        REQUIRE(cache.save(dir->path()));
    }
    CertificateCache cache(dir->path());
    CHECK(cache.lookup("/a", s) == 10);
    CHECK_FALSE(cache.lookup("/b", s));
}

TEST_CASE("state: an unusable certificate cache is an empty one") {
    auto dir = TempDir::create_in_tmp("unit-certcache");
    REQUIRE(dir);
    std::string file = certificate_cache_path(dir->path()).string();
    REQUIRE(util::make_directories((dir->path() / "status").string(), 0755));
    FileStamp s{1, 2, 3, 4, 5};
    for (std::string text :
         {std::string("not json"), std::string(R"({"schema": 2, "certificates": {}})"),
          std::string(R"({"schema": 1, "certificates": []})"),
          std::string(R"({"schema": 1, "certificates": {"/a": {"device": 1, "inode": 2,
            "size": 3, "mtime_ns": 4, "ctime_ns": 5, "not_after": "soon"}}})")}) {
        INFO(text);
        REQUIRE(util::atomic_write(file, text, 0644));
        CHECK_FALSE(CertificateCache(dir->path()).lookup("/a", s));
    }
}
