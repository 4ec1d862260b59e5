// new-restic-server writes a dedicated gateway's account and bucket itself (versitygw_files.hpp)
// instead of starting versitygw for its admin API. These tests hold that to the pinned
// versitygw: the files are what its admin API writes, and the gateway started on them serves
// the account. A version whose formats differ fails here.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "provision/credentials.hpp"
#include "provision/dedicated_gateway.hpp"
#include "provision/versitygw_files.hpp"
#include "support/access.hpp"
#include "support/fixtures.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

const core::Credentials k_root{"ROOTKEY0123456789ABC", "rootsecret0123456789abcdefghijklmnopqrst"};
const core::Credentials k_account{"ACCOUNT0123456789ABC",
                                  "accountsecret0123456789abcdefghijklmnop"};
const std::string k_bucket = "web1";

// A gateway's directories as provisioning makes them (envdir root's, the rest the owner's).
core::GatewayFiles make_gateway_dirs(const fs::path& dir, const core::Owner& owner) {
    fs::create_directories(dir);
    REQUIRE(core::write_root_keys(dir, k_root, nullptr));
    REQUIRE(core::make_dir(dir / "iam", 0700, &owner));
    REQUIRE(core::make_dir(dir / "data", 0750, &owner));
    return {dir / "versitygw.env", dir / "iam", dir / "admin.sock", dir / "data"};
}

std::string attribute(const fs::path& path, const char* name) {
    std::string value(4096, '\0');
    ssize_t n = ::getxattr(path.c_str(), name, value.data(), value.size());
    REQUIRE(n >= 0);
    value.resize(static_cast<std::size_t>(n));
    return value;
}

std::string attribute_names(const fs::path& path) {
    std::string names(4096, '\0');
    ssize_t n = ::listxattr(path.c_str(), names.data(), names.size());
    REQUIRE(n >= 0);
    names.resize(static_cast<std::size_t>(n));
    std::vector<std::string> list;
    for (std::size_t at = 0; at < names.size(); at = names.find('\0', at) + 1) {
        list.push_back(names.substr(at, names.find('\0', at) - at));
    }
    std::sort(list.begin(), list.end());
    return fmt::format("{}", fmt::join(list, " "));
}

std::string text_of(const fs::path& path) {
    auto text = util::read_file(path.string());
    REQUIRE(text);
    return *text;
}

std::string mode_and_owner(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return fmt::format("{:o} {}:{}", st.st_mode & 07777, st.st_uid, st.st_gid);
}

std::unique_ptr<util::TempDir> reachable_temp_dir(const char* name) {
    auto dir = util::TempDir::create_in_tmp(name);
    REQUIRE(dir);
    ::chmod(dir->path().c_str(), 0755); // the gateway runs as nobody
    return std::make_unique<util::TempDir>(std::move(*dir));
}

// The pinned versitygw where the service user can run it (the deps' bin dir is in a 0700 home).
std::string gateway_binary(const fs::path& dir) {
    fs::path copy = dir / "versitygw";
    fs::copy_file(require_program("versitygw"), copy);
    return copy.string();
}

core::Owner service_owner() {
    auto owner = core::resolve_owner("nobody", "nogroup");
    REQUIRE(owner);
    return *owner;
}

} // namespace

TEST_CASE("versitygw files: the account and bucket written directly are what the pinned "
          "gateway's admin API writes",
          "[versitygw][provision]") {
    auto dir = reachable_temp_dir("e2e-vgw-files");
    core::Owner owner = service_owner();
    std::string binary = gateway_binary(dir->path());
    auto by_api = make_gateway_dirs(dir->path() / "api", owner);
    auto made = core::with_offline_gateway(
        binary, by_api, owner, [](const core::VersitygwAdmin& admin) -> util::Expected<void> {
            TRY(admin.create_user(k_account.access_key, k_account.secret));
            return admin.create_bucket(k_bucket, k_account.access_key);
        });
    INFO((made ? "" : made.error().message()));
    REQUIRE(made);
    auto direct = make_gateway_dirs(dir->path() / "direct", owner);
    REQUIRE(
        core::write_versitygw_account(direct.iam, k_account.access_key, k_account.secret, owner));
    REQUIRE(core::make_versitygw_bucket(direct.data, k_bucket, k_account.access_key, owner));

    auto users = [](const core::GatewayFiles& f) { return f.iam / "users.json"; };
    CHECK(text_of(users(direct)) == text_of(users(by_api)));
    CHECK(mode_and_owner(users(direct)) == mode_and_owner(users(by_api)));
    CHECK(mode_and_owner(users(direct)) == fmt::format("600 {}:{}", owner.uid, owner.gid));
    fs::path bucket_api = by_api.data / k_bucket;
    fs::path bucket_direct = direct.data / k_bucket;
    CHECK(mode_and_owner(bucket_direct) == mode_and_owner(bucket_api));
    CHECK(attribute_names(bucket_direct) == attribute_names(bucket_api));
    for (const char* name :
         {core::k_versitygw_acl_attribute, core::k_versitygw_ownership_attribute}) {
        INFO(name);
        CHECK(attribute(bucket_direct, name) == attribute(bucket_api, name));
    }
    // Only a copy of the empty IAM besides (users.json.backup, written before each change).
    std::vector<std::string> api_files;
    for (const auto& entry : fs::directory_iterator(by_api.iam)) {
        api_files.push_back(entry.path().filename().string());
    }
    std::sort(api_files.begin(), api_files.end());
    CHECK(api_files == std::vector<std::string>{"users.json", "users.json.backup"});

    // Never over another account or bucket.
    CHECK_FALSE(core::write_versitygw_account(direct.iam, "OTHER", "secret", owner));
    CHECK_FALSE(core::make_versitygw_bucket(direct.data, k_bucket, "OTHER", owner));
    CHECK(text_of(users(direct)) == text_of(users(by_api)));
}

TEST_CASE("versitygw files: the pinned gateway started on them serves the account, not as root",
          "[versitygw][provision]") {
    auto dir = reachable_temp_dir("e2e-vgw-serve");
    {
        core::Owner owner = service_owner();
        auto files = make_gateway_dirs(dir->path() / "gw", owner);
        REQUIRE(core::write_versitygw_account(files.iam, k_account.access_key, k_account.secret,
                                              owner));
        REQUIRE(core::make_versitygw_bucket(files.data, k_bucket, k_account.access_key, owner));
        int port = free_port();
        util::SpawnOptions o;
        o.argv = {require_program("chpst"),
                  "-e",
                  files.envdir.string(),
                  "-u",
                  "nobody:nogroup",
                  gateway_binary(dir->path()),
                  "--port",
                  fmt::format("127.0.0.1:{}", port),
                  "--iam-dir",
                  files.iam.string(),
                  "posix",
                  files.data.string()};
        o.env = base_environment();
        ServerProcess gateway(o, dir->path() / "gateway.log");
        wait_for_port(port, 30s, "versitygw");
        std::string endpoint = fmt::format("http://127.0.0.1:{}", port);

        // restic with the account's keys writes and reads its bucket.
        auto client = make_restic_client(dir->path() / "client", "s3:" + endpoint + "/" + k_bucket);
        client.env["AWS_ACCESS_KEY_ID"] = k_account.access_key;
        client.env["AWS_SECRET_ACCESS_KEY"] = k_account.secret;
        client.run({"init"});
        fs::path source = dir->path() / "source";
        make_sample_tree(source);
        client.run({"backup", source.string()});
        CHECK(util::Json::parse(client.run({"snapshots", "--json"}).out).size() == 1);
        CHECK(client.try_run({"check", "--read-data"}).success());
        // The objects are the service user's files in the bucket directory.
        struct stat st {};
        REQUIRE(::stat((files.data / k_bucket / "config").c_str(), &st) == 0);
        CHECK(st.st_uid == owner.uid);

        // The account is a user, not root: another bucket (made with the root keys) and a
        // bucket of its own are out of its reach.
        auto by_root = s3_attempts(endpoint, k_root.access_key, k_root.secret, "probe-root",
                                   dir->path(), Probes::all);
        REQUIRE(attempt_named(by_root, "create bucket").succeeded);
        auto as_account = s3_attempts(endpoint, k_account.access_key, k_account.secret,
                                      "probe-root", dir->path(), Probes::all);
        INFO(successful(as_account));
        CHECK(successful(as_account).empty());
    }
    require_no_processes(dir->path());
}
