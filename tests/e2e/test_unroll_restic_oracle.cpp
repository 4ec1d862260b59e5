// restic itself is the oracle for restic-unroll: a tree backed up with `restic backup ROOT
// --exclude-file OUT` and restored must hold exactly the spine directories, the kept links and
// everything below each include, byte for byte in every name.
#include "support/fixtures.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <fmt/ranges.h>
#include <iterator>
#include <set>

using namespace backup;
using namespace backup::test;

namespace {

using PathSet = std::set<std::string>;

std::string unroll_binary() {
    return tools_dir() + "/restic-unroll";
}

void make_dir(const fs::path& path) {
    fs::create_directories(path);
}

void make_link(const std::string& target, const fs::path& link) {
    fs::create_directories(link.parent_path());
    fs::create_symlink(target, link);
}

// Every path at and below tree_path (a tree path: "/a/b") in the tree at root, links not
// followed, as tree paths.
PathSet entries_at_and_below(const fs::path& root, const std::string& tree_path) {
    PathSet out{tree_path};
    fs::path base = root / tree_path.substr(1);
    if (fs::is_directory(fs::symlink_status(base))) {
        std::string prefix = base.string();
        for (const auto& entry : fs::recursive_directory_iterator(base)) {
            out.insert(tree_path + entry.path().string().substr(prefix.size()));
        }
    }
    return out;
}

std::string show(const PathSet& paths) {
    std::vector<std::string> lines;
    for (const auto& p : paths) {
        std::string line;
        for (unsigned char c : p) {
            line += (c < 0x20 || c >= 0x7f) ? fmt::format("\\x{:02x}", c) : std::string(1, c);
        }
        lines.push_back(line);
    }
    return fmt::format("{}", fmt::join(lines, "\n"));
}

// The source tree: every shape the include list meets on a real system.
void make_tree(const fs::path& root) {
    // /etc: a directory include, a file include, a symlink include; the rest excluded.
    write_file(root / "etc/passwd", "root:x:0:0\n");
    write_file(root / "etc/ssl/certs/ca.pem", "cert\n");
    write_file(root / "etc/hosts", "127.0.0.1 localhost\n");
    make_link("/usr/share/zoneinfo/UTC", root / "etc/localtime");
    // A merged /usr: /lib -> usr/lib, include /lib/modules.
    write_file(root / "usr/lib/modules/6.1/kernel.ko", "module\n");
    write_file(root / "usr/lib/firmware/fw.bin", "firmware\n");
    make_link("usr/lib", root / "lib");
    write_file(root / "usr/share/zoneinfo/UTC", "TZif\n");
    write_file(root / "usr/local/bin/tool", "#!/bin/sh\n");
    write_file(root / "usr/local/share/tool.1", "manual\n");
    // Nested includes /srv and /srv/www, with awkward names below the include (kept as they
    // are: no pattern is written for them).
    write_file(root / "srv/www/index.html", "<html>\n");
    write_file(root / "srv/www/new\nline", "nl\n");
    write_file(root / "srv/www/cost$HOME", "dollar\n");
    make_link("../../etc/passwd", root / "srv/www/passwd-link");
    make_dir(root / "srv/empty");
    // A deep include: /var/lib/postgresql/backups.
    write_file(root / "var/lib/postgresql/backups/base.tar", "backup\n");
    write_file(root / "var/lib/postgresql/15/main/PG_VERSION", "15\n");
    write_file(root / "var/lib/dpkg/status", "status\n");
    write_file(root / "var/log/syslog", "log\n");
    write_file(root / "var/cache/apt/pkgcache.bin", "cache\n");
    // Spaces.
    write_file(root / "home/alice smith/keep me/notes.txt", "keep\n");
    write_file(root / "home/alice smith/drop me", "drop\n");
    write_file(root / "home/bob/.bashrc", "bob\n");
    // Glob characters, each excluded beside an include it would swallow if not escaped.
    write_file(root / "data/aXb/file", "kept\n");
    write_file(root / "data/a*b", "star\n");
    write_file(root / "data/qZ/file", "kept\n");
    write_file(root / "data/q?", "question\n");
    write_file(root / "data/a/file", "kept\n");
    write_file(root / "data/[ab]", "brackets\n");
    write_file(root / "data/back\\slash", "backslash\n");
    // '$' in kept and excluded names: restic expands $VAR in its exclude file.
    write_file(root / "data/$PATH/file", "kept\n");
    write_file(root / "data/cost$HOME", "excluded\n");
    write_file(root / "data/${USER}", "excluded\n");
    write_file(root / "data/end$", "excluded\n");
    // Non-ASCII and invalid UTF-8.
    write_file(root / "data/caf\xc3\xa9/file", "kept\n");
    write_file(root / "data/na\xc3\xafve", "excluded\n");
    write_file(root / "data/keep\xff/file", "kept\n");
    write_file(root / "data/bad\xff"
                      "\xfe",
               "excluded\n");
    // A newline, trailing white space (ASCII and U+3000), a leading space.
    write_file(root / "data/new\nline", "excluded\n");
    write_file(root / "data/trailing ", "excluded\n");
    write_file(root / "data/ideographic\xe3\x80\x80", "excluded\n");
    write_file(root / "data/ leading", "excluded\n");
    write_file(root / "data/kept trailing /file", "kept\n");
    // Top-level entries that all go.
    write_file(root / "vmlinuz", "kernel\n");
    make_dir(root / "tmp");
}

// The include list, with the comments, blank lines and unnormalised paths people write.
const std::string k_include_list = "# system\n"
                                   "/etc/ssl\n"
                                   "/etc/hosts\n"
                                   "/etc/localtime\n"
                                   "\n"
                                   "/lib/modules\n"
                                   "/usr/local\n"
                                   "//usr/./local/bin/\n"
                                   "   \n"
                                   "/srv/www\n"
                                   "/srv\n"
                                   "/var/lib/postgresql/backups\n"
                                   "/home/alice smith/keep me\n"
                                   "  # data\n"
                                   "/data/aXb\n"
                                   "/data/qZ\n"
                                   "/data/a\n"
                                   "/data/$PATH\n"
                                   "/data/caf\xc3\xa9\n"
                                   "/data/keep\xff\n"
                                   "/data/kept trailing \n";

// What the snapshot must hold below ROOT, worked out by hand from the tree above.
PathSet expected_snapshot(const fs::path& root) {
    PathSet expected{"/",
                     "/etc",
                     "/usr",
                     "/usr/lib",
                     "/var",
                     "/var/lib",
                     "/var/lib/postgresql",
                     "/home",
                     "/home/alice smith",
                     "/data",
                     "/lib"}; // the link an include runs through
    for (const char* include :
         {"/etc/ssl", "/etc/hosts", "/etc/localtime", "/usr/lib/modules", "/usr/local", "/srv",
          "/var/lib/postgresql/backups", "/home/alice smith/keep me", "/data/aXb", "/data/qZ",
          "/data/a", "/data/$PATH", "/data/caf\xc3\xa9", "/data/keep\xff",
          "/data/kept trailing "}) {
        expected.merge(entries_at_and_below(root, include));
    }
    return expected;
}

ProcessResult run_unroll(std::vector<std::string> args,
                         std::optional<std::string> stdin_data = std::nullopt) {
    args.insert(args.begin(), unroll_binary());
    return run_cmd(std::move(args), base_environment(), std::move(stdin_data));
}

} // namespace

TEST_CASE("restic backs up exactly what restic-unroll's excludes leave", "[e2e][unroll]") {
    require_program("restic");
    auto dir = util::TempDir::create_in_tmp("e2e-unroll");
    REQUIRE(dir);
    {
        fs::path root = dir->path() / "root";
        make_tree(root);
        fs::path include_file = dir->path() / "includes";
        fs::path exclude_file = dir->path() / "excludes";
        write_file(include_file, k_include_list);

        auto unrolled = run_unroll(
            {"--root", root.string(), "--stats", include_file.string(), exclude_file.string()});
        INFO(unrolled.err);
        REQUIRE(unrolled.exit_code() == 0);
        CHECK(unrolled.out.empty());
        // Each spine directory read once: "/", etc, usr, usr/lib, var, var/lib,
        // var/lib/postgresql, home, "home/alice smith", data.
        CHECK(unrolled.err.find("spine directories 10, directories read 10, directories "
                                "opened 10, kept links 1") != std::string::npos);
        auto excludes = util::read_file(exclude_file.string());
        REQUIRE(excludes);
        INFO("excludes:\n" << *excludes);
        // Spot checks of the syntax; restic below checks the meaning.
        CHECK(excludes->find(root.string() + "/data/a\\*b\n") != std::string::npos);
        CHECK(excludes->find(root.string() + "/data/cost?HOME\n") != std::string::npos);
        CHECK(excludes->find(root.string() + "/data/trailing?\n") != std::string::npos);

        auto client = make_restic_client(dir->path() / "client", (dir->path() / "repo").string());
        client.run({"init"});
        client.run({"backup", root.string(), "--exclude-file", exclude_file.string()});
        fs::path restored = dir->path() / "restored";
        client.run({"restore", "latest", "--target", restored.string()});
        fs::path restored_root = restored / root.relative_path();
        REQUIRE(fs::is_directory(restored_root));

        PathSet actual = entries_at_and_below(restored_root, "/");
        PathSet expected = expected_snapshot(root);
        PathSet missing;
        PathSet extra;
        std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                            std::inserter(missing, missing.end()));
        std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                            std::inserter(extra, extra.end()));
        INFO("missing from the snapshot:\n" << show(missing));
        INFO("in the snapshot but not asked for:\n" << show(extra));
        CHECK(missing.empty());
        CHECK(extra.empty());
        CHECK(actual.size() > 40);

        // Links stay links; the included subtrees are restored with their content.
        CHECK(fs::read_symlink(restored_root / "lib") == "usr/lib");
        CHECK(fs::read_symlink(restored_root / "etc/localtime") == "/usr/share/zoneinfo/UTC");
        for (const char* include : {"usr/local", "srv", "usr/lib/modules", "data/keep\xff"}) {
            auto diffs = compare_trees(root / include, restored_root / include);
            INFO(include << ": " << fmt::format("{}", fmt::join(diffs, "\n")));
            CHECK(diffs.empty());
        }
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-unroll reports a missing include with exit 1 and still writes everything",
          "[e2e][unroll]") {
    auto dir = util::TempDir::create_in_tmp("e2e-unroll");
    REQUIRE(dir);
    {
        fs::path root = dir->path() / "root";
        make_tree(root);
        write_file(dir->path() / "includes", k_include_list);
        write_file(dir->path() / "includes-missing",
                   k_include_list + "/home/carol/.ssh\n/etc/passwd/not-a-dir\n");

        auto complete = run_unroll({"--root", root.string(), (dir->path() / "includes").string(),
                                    (dir->path() / "complete").string()});
        REQUIRE(complete.exit_code() == 0);
        auto partial =
            run_unroll({"--root", root.string(), (dir->path() / "includes-missing").string(),
                        (dir->path() / "partial").string()});
        CHECK(partial.exit_code() == 1);
        CHECK(partial.err ==
              "restic-unroll: warning: unable to back up include \"/etc/passwd/not-a-dir\": "
              "\"/etc/passwd\" is not a directory\n"
              "restic-unroll: warning: unable to back up include \"/home/carol/.ssh\": "
              "\"/home/carol\" does not exist\n");
        auto complete_text = util::read_file((dir->path() / "complete").string());
        auto partial_text = util::read_file((dir->path() / "partial").string());
        REQUIRE(complete_text);
        REQUIRE(partial_text);
        CHECK(*partial_text == *complete_text);
        CHECK(std::count(complete_text->begin(), complete_text->end(), '\n') > 20);

        // Standard input and output, absent or '-', give the same bytes.
        auto piped = run_unroll({"--root", root.string()}, k_include_list);
        CHECK(piped.exit_code() == 0);
        CHECK(piped.out == *complete_text);
        auto dashes = run_unroll({"--root", root.string(), "-", "-"}, k_include_list);
        CHECK(dashes.exit_code() == 0);
        CHECK(dashes.out == *complete_text);
    }
    require_no_processes(dir->path());
}

TEST_CASE("restic-unroll refuses bad lists and ambiguous patterns with exit 100", "[e2e][unroll]") {
    auto dir = util::TempDir::create_in_tmp("e2e-unroll");
    REQUIRE(dir);
    {
        fs::path root = dir->path() / "root";
        write_file(root / "data/cost$", "excluded\n");
        write_file(root / "data/costs/kept", "kept\n");
        fs::path out = dir->path() / "excludes";

        auto bad =
            run_unroll({"--root", root.string(), "-", out.string()}, "/data\nrelative\n/a/../b\n");
        CHECK(bad.exit_code() == 100);
        CHECK(bad.err.find("line 2 of include list standard input: \"relative\" is not an "
                           "absolute path") != std::string::npos);
        CHECK(bad.err.find("line 3 of include list standard input: \"/a/../b\" has a '..' "
                           "component") != std::string::npos);
        CHECK_FALSE(fs::exists(out));

        auto ambiguous = run_unroll({"--root", root.string(), "-", out.string()}, "/data/costs\n");
        CHECK(ambiguous.exit_code() == 100);
        CHECK(ambiguous.err == fmt::format("restic-unroll: error: unable to exclude "
                                           "\"/data/cost$\": its pattern \"{}/data/cost?\" would "
                                           "also match \"/data/costs\", which must be backed up\n",
                                           root.string()));
        CHECK_FALSE(fs::exists(out));

        auto usage = run_unroll({"--no-such-option"});
        CHECK(usage.exit_code() == 100);
        auto help = run_unroll({"--help"});
        CHECK(help.exit_code() == 0);
        CHECK(help.out.find("Include file:") != std::string::npos);
        CHECK(help.out.find("111") != std::string::npos);
    }
    require_no_processes(dir->path());
}
