// The fixtures are real: restic backs up to and restores from a real versitygw and a real
// rest-server, and the repository lies as plain, content-addressed files in their data dirs.
#include <catch2/catch.hpp>

#include "support/fixtures.hpp"

using namespace backup;
using namespace backup::test;

namespace {

void backup_and_restore(const ResticClient& client, const fs::path& work) {
    fs::path source = work / "source";
    make_sample_tree(source);
    client.run({"init"});
    client.run({"backup", source.string()});
    fs::path restored = work / "restored";
    client.run({"restore", "latest", "--target", restored.string()});
    // restic restores the absolute source path below the target.
    auto diffs = compare_trees(source, restored / source.relative_path());
    INFO(fmt::format("{}", fmt::join(diffs, "\n")));
    CHECK(diffs.empty());
}

void require_plain_repository(const fs::path& repo) {
    REQUIRE(fs::is_regular_file(repo / "config"));
    REQUIRE(fs::is_directory(repo / "snapshots"));
    int files = 0;
    auto problems = verify_repository_files(repo, &files);
    INFO(fmt::format("{}", fmt::join(problems, "\n")));
    CHECK(problems.empty());
    // config, a key, at least one pack, an index and a snapshot
    CHECK(files >= 5);
    CHECK(std::distance(fs::directory_iterator(repo / "snapshots"), fs::directory_iterator()) == 1);
}

} // namespace

TEST_CASE("restic backs up to and restores from versitygw (s3:)", "[smoke][versitygw]") {
    auto dir = util::TempDir::create_in_tmp("e2e-vgw");
    REQUIRE(dir);
    {
        VersitygwServer server(dir->path());
        auto client =
            make_restic_client(dir->path() / "client", "s3:" + server.endpoint() + "/web1");
        client.env["AWS_ACCESS_KEY_ID"] = server.access_key();
        client.env["AWS_SECRET_ACCESS_KEY"] = server.secret_key();
        backup_and_restore(client, dir->path());
        // Object bucket/a/b is the plain file <root>/bucket/a/b.
        require_plain_repository(server.data_dir() / "web1");
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic backs up to and restores from rest-server (rest:)", "[smoke][rest-server]") {
    auto dir = util::TempDir::create_in_tmp("e2e-rest");
    REQUIRE(dir);
    {
        RestServer server(dir->path(), {{"web1", "pw-web1-secret"}});
        auto client =
            make_restic_client(dir->path() / "client", "rest:" + server.endpoint() + "/web1/");
        // Credentials by environment (restic >= 0.17), not in the URL.
        client.env["RESTIC_REST_USERNAME"] = "web1";
        client.env["RESTIC_REST_PASSWORD"] = "pw-web1-secret";
        backup_and_restore(client, dir->path());
        require_plain_repository(server.data_dir() / "web1");

        // The server really checks credentials.
        auto wrong = client;
        wrong.env["RESTIC_REST_PASSWORD"] = "not-the-password";
        auto denied = wrong.try_run({"snapshots"});
        CHECK_FALSE(denied.success());
    }
    require_no_processes(dir->path());
}
