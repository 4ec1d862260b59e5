// A dedicated gateway's account and bucket as versitygw writes them (the e2e test
// test_versitygw_files.cpp holds these bytes to the pinned versitygw itself).
#include "provision/versitygw_files.hpp"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/fs.hpp"

using namespace backup;
using namespace backup::core;

TEST_CASE("versitygw files: users.json and the bucket's acl in Go's encoding") {
    CHECK(versitygw_users_json("AK1", "s3cr3t") ==
          R"({"accessAccounts":{"AK1":{"access":"AK1","secret":"s3cr3t","role":"user",)"
          R"("userID":0,"groupID":0,"projectID":0}}})");
    CHECK(versitygw_bucket_acl("AK1") ==
          R"({"Owner":"AK1","Grantees":[{"Permission":"FULL_CONTROL","Access":"AK1",)"
          R"("Type":"CanonicalUser"}]})");
}

TEST_CASE("versitygw files: written once, private, never over an existing account or bucket") {
    auto dir = util::TempDir::create_in_tmp("unit-vgw-files");
    REQUIRE(dir);
    Owner me{"me", "me", ::geteuid(), ::getegid()};
    REQUIRE(write_versitygw_account(dir->path(), "AK1", "s3cr3t", me));
    struct stat st {};
    REQUIRE(::stat((dir->path() / "users.json").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    auto again = write_versitygw_account(dir->path(), "AK2", "other", me);
    REQUIRE_FALSE(again);
    CHECK(again.error().message().find("has accounts already") != std::string::npos);
    CHECK(util::read_file((dir->path() / "users.json").string()) ==
          versitygw_users_json("AK1", "s3cr3t"));

    auto made = make_versitygw_bucket(dir->path(), "web1", "AK1", me);
    INFO((made ? "" : made.error().message()));
    REQUIRE(made);
    fs::path bucket = dir->path() / "web1";
    REQUIRE(::stat(bucket.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    std::string value(256, '\0');
    ssize_t n =
        ::getxattr(bucket.c_str(), k_versitygw_ownership_attribute, value.data(), value.size());
    REQUIRE(n > 0);
    CHECK(value.substr(0, static_cast<std::size_t>(n)) == k_versitygw_default_ownership);
    CHECK_FALSE(make_versitygw_bucket(dir->path(), "web1", "AK2", me));
}
