#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include "support/repository_files.hpp"

#include <filesystem>

#include "model/repository.hpp"
#include "util/fs.hpp"

using namespace backup::core;
using namespace backup::util;

namespace {
using backup::test::k_id;
}

TEST_CASE("repository ids are exactly 64 lowercase hex characters") {
    CHECK(is_repository_id(k_id));
    CHECK_FALSE(is_repository_id(k_id.substr(1)));
    CHECK_FALSE(is_repository_id(k_id + "0"));
    std::string upper = k_id;
    upper[0] = 'A';
    CHECK_FALSE(is_repository_id(upper));
    CHECK_FALSE(is_repository_id(k_id.substr(0, 63) + "g"));
}

TEST_CASE("paths are classified by directory and name") {
    CHECK(classify_repository_path("config") == RepoFileKind::config);
    CHECK(classify_repository_path("keys/" + k_id) == RepoFileKind::key);
    CHECK(classify_repository_path("data/ab/" + k_id) == RepoFileKind::pack);
    CHECK(classify_repository_path("data/cd/" + k_id) == RepoFileKind::misplaced_pack);
    CHECK(classify_repository_path("data/" + k_id) == RepoFileKind::misplaced_pack);
    CHECK(classify_repository_path("index/" + k_id) == RepoFileKind::index);
    CHECK(classify_repository_path("snapshots/" + k_id) == RepoFileKind::snapshot);
    CHECK(classify_repository_path("locks/" + k_id) == RepoFileKind::lock);
    CHECK(classify_repository_path("snapshots/" + k_id + ".rest-server-temp") ==
          RepoFileKind::other);
    CHECK(classify_repository_path("data/ab/" + k_id + "-tmp-123") == RepoFileKind::other);
    CHECK(classify_repository_path("stray") == RepoFileKind::other);
    CHECK(classify_repository_path("other/" + k_id) == RepoFileKind::other);
    CHECK(is_content_addressed(RepoFileKind::pack));
    CHECK_FALSE(is_content_addressed(RepoFileKind::config));
    CHECK_FALSE(is_content_addressed(RepoFileKind::other));
}

TEST_CASE("list_repository_files walks the tree, sorted, without following symlinks") {
    auto dir = TempDir::create_in_tmp("unit-repo");
    REQUIRE(dir);
    auto root = dir->path();
    std::filesystem::create_directories(root / "data/ab");
    std::filesystem::create_directories(root / "snapshots");
    REQUIRE(atomic_write((root / "config").string(), "c", 0600));
    REQUIRE(atomic_write((root / "data/ab" / k_id).string(), "p", 0600));
    REQUIRE(atomic_write((root / "snapshots/tmp").string(), "t", 0600));
    std::filesystem::create_symlink("/etc", root / "snapshots" / k_id);
    auto files = backup::test::list_repository_files(root.string());
    REQUIRE(files);
    REQUIRE(files->size() == 4);
    CHECK((*files)[0].relative == "config");
    CHECK((*files)[1].relative == "data/ab/" + k_id);
    CHECK((*files)[1].kind == RepoFileKind::pack);
    CHECK((*files)[2].relative == "snapshots/" + k_id);
    CHECK((*files)[2].kind == RepoFileKind::other); // a symlink is never a repository file
    CHECK((*files)[3].kind == RepoFileKind::other);
    CHECK_FALSE(backup::test::list_repository_files((root / "missing").string()));
}
