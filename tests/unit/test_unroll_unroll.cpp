#include "unroll/command.hpp"
#include "unroll/unroll.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>

using namespace backup;
using namespace backup::core;
namespace fs = std::filesystem;

namespace {

using Paths = std::vector<std::string>;

// The real file system, recording every directory listed and able to fail on chosen paths.
class RecordingFileSystem : public FileSystemView {
public:
    util::Expected<std::vector<std::string>> list_directory(const std::string& path) override {
        listed.push_back(path);
        if (fail_list.contains(path)) {
            return util::fail(util::ExitCode::temporary, "read directory {}: injected", path);
        }
        return m_real.list_directory(path);
    }
    util::Expected<FileType> lstat(const std::string& path) override {
        if (fail_lstat.contains(path)) {
            return util::fail(util::ExitCode::temporary, "look up {}: injected", path);
        }
        return m_real.lstat(path);
    }
    util::Expected<std::string> readlink(const std::string& path) override {
        return m_real.readlink(path);
    }
    std::size_t opened() const { return m_real.directories_opened(); }

    Paths listed;
    std::set<std::string> fail_list;
    std::set<std::string> fail_lstat;

private:
    RealFileSystem m_real;
};

// A tree under a fresh temp dir. Entries: "dir/", "file", "link -> target".
class Tree {
public:
    explicit Tree(std::vector<std::string> entries) {
        auto dir = util::TempDir::create_in_tmp("unit-unroll");
        REQUIRE(dir);
        m_dir.emplace(std::move(*dir));
        fs::create_directory(root());
        for (const auto& entry : entries) {
            add(entry);
        }
    }
    void add(const std::string& entry) {
        auto arrow = entry.find(" -> ");
        if (arrow != std::string::npos) {
            fs::path link = root() / entry.substr(0, arrow);
            fs::create_directories(link.parent_path());
            fs::create_symlink(entry.substr(arrow + 4), link);
        } else if (entry.ends_with('/')) {
            fs::create_directories(root() / entry);
        } else {
            fs::path file = root() / entry;
            fs::create_directories(file.parent_path());
            std::ofstream(file) << "x";
        }
    }
    fs::path root() const { return m_dir->path() / "root"; }
    std::string r() const { return root().string(); }
    // root + tree path, as listed and as patterns start.
    std::string host(const std::string& tree_path) const { return r() + tree_path; }
    Paths hosts(const Paths& tree_paths) const {
        Paths out;
        for (const auto& p : tree_paths) {
            out.push_back(host(p));
        }
        return out;
    }

private:
    std::optional<util::TempDir> m_dir;
};

UnrollResult unroll_ok(const Paths& includes, const Tree& tree, RecordingFileSystem& fs) {
    auto result = unroll(includes, tree.r(), fs);
    if (!result) {
        FAIL(result.error().message());
    }
    return std::move(*result);
}

Paths sorted(Paths paths) {
    std::sort(paths.begin(), paths.end());
    return paths;
}

using backup::test::all_messages;

} // namespace

// --- parsing -----------------------------------------------------------------------------------

TEST_CASE("unroll: include lists skip blank and comment lines and normalise paths") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll"); // unused: parsing touches no file
    REQUIRE(dir);
    auto parsed = parse_include_list("# what to back up\n"
                                     "\n"
                                     "   \t \n"
                                     "//usr/./local/\n"
                                     "  # indented comment\n"
                                     "/etc\n"
                                     "/etc/\n"
                                     "/home/alice/.ssh\n"
                                     "/srv/a b \n" // white space inside and at the end is kept
                                     "/var/lib/x", // no final newline
                                     "includes.txt");
    REQUIRE(parsed);
    CHECK(*parsed == Paths{"/etc", "/home/alice/.ssh", "/srv/a b ", "/usr/local", "/var/lib/x"});

    auto root = parse_include_list("/\n", "x");
    REQUIRE(root);
    CHECK(*root == Paths{"/"});
}

TEST_CASE("unroll: include list errors name every bad line at once") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll");
    REQUIRE(dir);
    auto parsed = parse_include_list("/etc\n"
                                     "etc/ssl\n"
                                     "/var/../root\n"
                                     " /leading-space\n"
                                     "/ok\n"
                                     "/x/..\n",
                                     "inc.txt");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == util::ExitCode::permanent);
    CHECK(parsed.error().message() ==
          "unable to use line 2 of include list inc.txt: \"etc/ssl\" is not an absolute path");
    REQUIRE(parsed.error().more().size() == 3);
    CHECK(parsed.error().more()[0] ==
          "unable to use line 3 of include list inc.txt: \"/var/../root\" has a '..' component");
    CHECK(parsed.error().more()[1].find("line 4 of include list inc.txt") != std::string::npos);
    CHECK(parsed.error().more()[2].find("line 6 ") != std::string::npos);

    auto empty = parse_include_list("# nothing\n\n   \n", "inc.txt");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().code() == util::ExitCode::permanent);
    CHECK(empty.error().message().find("inc.txt: it names no path") != std::string::npos);
    CHECK_FALSE(parse_include_list("", "inc.txt"));
    CHECK_FALSE(parse_include_list(std::string_view("/a\0b\n", 5), "inc.txt"));
}

// --- patterns ----------------------------------------------------------------------------------

TEST_CASE("unroll: patterns escape glob characters and turn unwritable characters into '?'") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll");
    REQUIRE(dir);
    auto plain = exclude_pattern("/srv/a b/c.d");
    CHECK(plain.text == "/srv/a b/c.d");
    CHECK_FALSE(plain.has_wildcard);

    auto glob = exclude_pattern("/x/*?[a-z]\\y");
    CHECK(glob.text == "/x/\\*\\?\\[a-z\\]\\\\y");
    CHECK_FALSE(glob.has_wildcard);

    CHECK(exclude_pattern("/x/$HOME/${USER}").text == "/x/?HOME/?{USER}");
    CHECK(exclude_pattern("/x/$HOME").has_wildcard);
    CHECK(exclude_pattern("/x/a\nb").text == "/x/a?b");
    // Only white space at the end of the line is trimmed by restic; the last character suffices.
    CHECK(exclude_pattern("/x/a b  ").text == "/x/a b ?");
    CHECK(exclude_pattern("/x /y").text == "/x /y");
    CHECK(exclude_pattern("/x/tab\t").text == "/x/tab?");
    CHECK(exclude_pattern("/x/nbsp\xc2\xa0").text == "/x/nbsp?");                // U+00A0
    CHECK(exclude_pattern("/x/ideo\xe3\x80\x80").text == "/x/ideo?");            // U+3000
    CHECK(exclude_pattern("/x/nel\xc2\x85").text == "/x/nel?");                  // U+0085
    CHECK(exclude_pattern("/x/zwsp\xe2\x80\x8b").text == "/x/zwsp\xe2\x80\x8b"); // not space
    CHECK(exclude_pattern("/x/cr\rmid").text == "/x/cr\rmid");
    // A lone 0xa0 byte is invalid UTF-8, not U+00A0: Go does not trim it.
    auto invalid = exclude_pattern("/x/bad\xa0");
    CHECK(invalid.text == "/x/bad\xa0");
    CHECK_FALSE(invalid.has_wildcard);
    CHECK(exclude_pattern("/x/caf\xc3\xa9").text == "/x/caf\xc3\xa9");
}

TEST_CASE("unroll: patterns match like restic: by component, '?' one rune, anchored prefix") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll");
    REQUIRE(dir);
    CHECK(pattern_matches("/a/b", "/a/b"));
    CHECK(pattern_matches("/a/b", "/a/b/c/d"));
    CHECK_FALSE(pattern_matches("/a/b", "/a"));
    CHECK_FALSE(pattern_matches("/a/b", "/a/bc"));
    CHECK_FALSE(pattern_matches("/a/b", "/x/a/b"));
    CHECK(pattern_matches("/a/c?st", "/a/cost"));
    CHECK(pattern_matches("/a/c?st", "/a/c\xc3\xb6st"));           // one two-byte rune
    CHECK(pattern_matches("/a/c?st", "/a/c\xffst"));               // one invalid byte
    CHECK(pattern_matches("/a/c?st", "/a/c\xc3st"));               // a lead byte without its tail
    CHECK_FALSE(pattern_matches("/a/c?st", "/a/c\xc3\xb6\xb6st")); // a rune and a stray byte
    CHECK_FALSE(pattern_matches("/a/c?st", "/a/cst"));
    CHECK_FALSE(pattern_matches("/a/c?st", "/a/cooost"));
    CHECK(pattern_matches("/a/\\?\\*", "/a/?*"));
    CHECK_FALSE(pattern_matches("/a/\\?", "/a/x"));
    CHECK(pattern_matches(exclude_pattern("/a/x\\y").text, "/a/x\\y"));
}

TEST_CASE("unroll: quote_path makes any name one printable line") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll");
    REQUIRE(dir);
    CHECK(backup::util::quote_path("/a b") == "\"/a b\"");
    CHECK(backup::util::quote_path("/a\nb\t\"\\") == "\"/a\\nb\\t\\\"\\\\\"");
    CHECK(backup::util::quote_path("/caf\xc3\xa9/\xff\x01") == "\"/caf\xc3\xa9/\\xff\\x01\"");
}

// --- unrolling ---------------------------------------------------------------------------------

TEST_CASE("unroll: excludes every sibling on the spine and reads only spine directories") {
    Tree tree({"etc/passwd", "etc/ssl/certs/ca.pem", "etc/ssh/sshd_config", "home/alice/.ssh/id",
               "home/alice/notes", "home/bob/", "usr/bin/ls", "var/log/syslog", "vmlinuz"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/etc/ssl", "/home/alice/.ssh"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/etc/passwd", "/etc/ssh", "/home/alice/notes",
                                         "/home/bob", "/usr", "/var", "/vmlinuz"}));
    CHECK(result.spine == Paths{"/", "/etc", "/home", "/home/alice"});
    CHECK(result.kept == Paths{"/etc/ssl", "/home/alice/.ssh"});
    CHECK(result.problems.empty());
    CHECK(sorted(fs.listed) == tree.hosts({"", "/etc", "/home", "/home/alice"}));
    CHECK(fs.opened() == 4);
    CHECK(result.stats.includes == 2);
    CHECK(result.stats.spine_directories == 4);
    CHECK(result.stats.directories_read == 4);
    CHECK(result.stats.excludes == 7);
    CHECK(render_excludes(result) == tree.host("/etc/passwd") + "\n" + tree.host("/etc/ssh") +
                                         "\n" + tree.host("/home/alice/notes") + "\n" +
                                         tree.host("/home/bob") + "\n" + tree.host("/usr") + "\n" +
                                         tree.host("/var") + "\n" + tree.host("/vmlinuz") + "\n");
}

TEST_CASE("unroll: an include below an include is redundant, nothing below one is read") {
    Tree tree({"usr/local/bin/tool", "usr/share/doc/x", "usr/lib/libc.so", "opt/a/b/c/", "srv/"});
    RecordingFileSystem fs;
    auto result =
        unroll_ok({"/usr", "/usr/local", "/usr/local/bin", "/opt/a/b", "/opt/a"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/srv"}));
    CHECK(result.spine == Paths{"/", "/opt"});
    CHECK(sorted(fs.listed) == tree.hosts({"", "/opt"}));
    CHECK(result.stats.spine_directories == 2);
    CHECK(result.stats.directories_read == 2);
}

TEST_CASE("unroll: a symlinked ancestor keeps the link and the target's spine") {
    Tree tree({"usr/lib/modules/6.1/kernel.ko", "usr/lib/firmware/fw", "usr/bin/ls",
               "lib -> usr/lib", "srv/data/opt/app/bin", "srv/data/other", "opt -> /srv/data/opt",
               "etc/passwd"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/lib/modules", "/opt/app"}, tree, fs);
    CHECK(result.excludes ==
          tree.hosts({"/etc", "/srv/data/other", "/usr/bin", "/usr/lib/firmware"}));
    CHECK(result.spine == Paths{"/", "/srv", "/srv/data", "/srv/data/opt", "/usr", "/usr/lib"});
    CHECK(result.kept == Paths{"/lib", "/opt", "/srv/data/opt/app", "/usr/lib/modules"});
    CHECK(result.stats.kept_links == 2);
    // The absolute target was taken below the root, never from the host's /srv.
    CHECK(sorted(fs.listed) ==
          tree.hosts({"", "/srv", "/srv/data", "/srv/data/opt", "/usr", "/usr/lib"}));
}

TEST_CASE("unroll: link targets with '..' resolve physically and never climb above the root") {
    Tree tree(
        {"a/b/", "a/up -> ../c/d", "c/d/keep/x", "c/d/drop", "c/other", "top -> ../../../c", "e/"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/a/up/keep", "/top/other"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/a/b", "/c/d/drop", "/e"}));
    CHECK(result.kept == Paths{"/a/up", "/c/d/keep", "/c/other", "/top"});
    CHECK(result.spine == Paths{"/", "/a", "/c", "/c/d"});
}

TEST_CASE("unroll: an include that is a symlink is kept as the link, not followed") {
    Tree tree({"etc/hosts", "etc/hostlink -> /srv/hosts", "srv/hosts", "etc/dirlink -> ../srv",
               "etc/passwd"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/etc/hostlink", "/etc/dirlink"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/etc/hosts", "/etc/passwd", "/srv"}));
    CHECK(result.kept == Paths{"/etc/dirlink", "/etc/hostlink"});
    CHECK(result.spine == Paths{"/", "/etc"});
    CHECK(result.stats.kept_links == 0);
}

TEST_CASE("unroll: missing includes are problems that add no spine, the rest is complete") {
    Tree tree({"etc/passwd", "etc/ssl/", "home/alice/", "data/file", "loop1 -> loop2",
               "loop2 -> loop1", "dangling -> nowhere"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/etc/ssl", "/home/bob/.ssh", "/data/file/below", "/loop1/x",
                             "/dangling/x", "/etc/missing"},
                            tree, fs);
    // /home is not kept half-way for /home/bob/.ssh: nothing of it is backed up.
    CHECK(result.excludes ==
          tree.hosts({"/dangling", "/data", "/etc/passwd", "/home", "/loop1", "/loop2"}));
    CHECK(result.spine == Paths{"/", "/etc"});
    REQUIRE(result.problems.size() == 5);
    CHECK(result.problems[0] ==
          "unable to back up include \"/home/bob/.ssh\": \"/home/bob\" does not exist");
    CHECK(result.problems[1] ==
          "unable to back up include \"/data/file/below\": \"/data/file\" is not a directory");
    CHECK(result.problems[2].find("include \"/loop1/x\": too many levels of symbolic links") !=
          std::string::npos);
    CHECK(result.problems[3] ==
          "unable to back up include \"/dangling/x\": \"/nowhere\" does not exist");
    CHECK(result.problems[4] ==
          "unable to back up include \"/etc/missing\": \"/etc/missing\" does not exist");
}

TEST_CASE("unroll: with no include found everything is excluded, never nothing") {
    Tree tree({"etc/passwd", "usr/"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/nothing/here"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/etc", "/usr"}));
    CHECK(result.problems.size() == 1);
}

TEST_CASE("unroll: including / excludes nothing and reads nothing") {
    Tree tree({"etc/passwd", "usr/"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/", "/etc"}, tree, fs);
    CHECK(result.excludes.empty());
    CHECK(fs.listed.empty());
    CHECK(result.stats.directories_read == 0);
}

TEST_CASE("unroll: a wildcard pattern that would match a kept path is refused, naming it") {
    Tree tree({"data/cost$", "data/costs/keep", "data/cosX/", "data/nl\nx", "data/nlyx/deep/",
               "data/other"});
    RecordingFileSystem fs;
    auto result = unroll(Paths{"/data/costs", "/data/nlyx/deep"}, tree.r(), fs);
    REQUIRE_FALSE(result);
    CHECK(result.error().code() == util::ExitCode::permanent);
    std::string text = all_messages(result.error());
    INFO(text);
    CHECK(result.error().more().size() == 1);
    CHECK(text.find("unable to exclude \"/data/cost$\": its pattern \"" + tree.host("/data/cost?") +
                    "\" would also match \"/data/costs\", which must be backed up") !=
          std::string::npos);
    CHECK(text.find("unable to exclude \"/data/nl\\nx\"") != std::string::npos);
    CHECK(text.find("would also match \"/data/nlyx\"") != std::string::npos);
}

TEST_CASE("unroll: a wildcard in a spine directory name is refused if it reaches an include") {
    Tree tree({"p\n/keep/", "p\n/other", "pX/inside/"});
    RecordingFileSystem fs;
    auto result = unroll(Paths{"/p\n/keep", "/pX"}, tree.r(), fs);
    REQUIRE_FALSE(result);
    INFO(all_messages(result.error()));
    CHECK(result.error().message().find("unable to exclude \"/p\\n/other\"") != std::string::npos);
    CHECK(result.error().message().find("what may lie below \"/pX\"") != std::string::npos);
}

TEST_CASE("unroll: a wildcard pattern that matches only excluded entries is fine") {
    Tree tree({"data/a$b", "data/aXb", "data/trail ", "data/trailX/", "data/inc/", "keep/"});
    RecordingFileSystem fs;
    auto result = unroll_ok({"/keep"}, tree, fs);
    CHECK(result.excludes == tree.hosts({"/data"}));
    auto deeper = unroll_ok({"/data/inc"}, tree, fs);
    CHECK(deeper.excludes ==
          tree.hosts({"/data/a?b", "/data/aXb", "/data/trail?", "/data/trailX", "/keep"}));
    // Refused once a match is kept.
    CHECK_FALSE(unroll(Paths{"/data/inc", "/data/trailX"}, tree.r(), fs));
    CHECK_FALSE(unroll(Paths{"/data/aXb"}, tree.r(), fs));
}

TEST_CASE("unroll: root problems and unreadable spine directories are errors") {
    Tree tree({"etc/passwd", "d/"});
    RecordingFileSystem fs;
    auto malformed = unroll(Paths{"/etc/.", "etc", "/a//b", "/a/../b", "/etc/"}, tree.r(), fs);
    REQUIRE_FALSE(malformed);
    CHECK(malformed.error().more().size() == 4);
    CHECK(malformed.error().message() ==
          "unable to use include \"/etc/.\": not a normalised absolute path");

    auto relative = unroll(Paths{"/etc"}, "relative/root", fs);
    REQUIRE_FALSE(relative);
    CHECK(relative.error().code() == util::ExitCode::permanent);

    auto missing = unroll(Paths{"/etc"}, tree.r() + "/nonexistent", fs);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message().find("does not exist") != std::string::npos);

    fs::create_symlink(tree.root(), tree.root().parent_path() / "rootlink");
    auto link = unroll(Paths{"/etc"}, tree.root().parent_path().string() + "/rootlink", fs);
    REQUIRE_FALSE(link);
    CHECK(link.error().message().find("symbolic link") != std::string::npos);

    fs.fail_list.insert(tree.host("/etc"));
    auto unreadable = unroll(Paths{"/etc/passwd"}, tree.r(), fs);
    REQUIRE_FALSE(unreadable);
    CHECK(unreadable.error().code() == util::ExitCode::temporary);
    CHECK(unreadable.error().message().find("injected") != std::string::npos);

    // An entry that cannot be looked up makes its include a problem, not the whole run.
    fs.fail_list.clear();
    fs.fail_lstat.insert(tree.host("/d"));
    auto partial = unroll(Paths{"/d", "/etc/passwd"}, tree.r(), fs);
    REQUIRE(partial);
    REQUIRE(partial->problems.size() == 1);
    CHECK(partial->problems[0].find("include \"/d\": unable to look up") != std::string::npos);
    CHECK(partial->excludes == tree.hosts({"/d"}));
}

TEST_CASE("unroll: root / gives plain absolute patterns") {
    auto dir = util::TempDir::create_in_tmp("unit-unroll");
    REQUIRE(dir);
    // The real root, read-only use: only "/" and the include's spine are listed.
    RecordingFileSystem fs;
    auto result = unroll(Paths{dir->str()}, "/", fs);
    REQUIRE(result);
    CHECK(std::find(result->excludes.begin(), result->excludes.end(), "/proc") !=
          result->excludes.end());
    CHECK(result->kept == Paths{dir->str()});
    CHECK(fs.listed.front() == "/");
}

TEST_CASE("unroll: unroll_command writes the file atomically and reports missing includes") {
    Tree tree({"etc/passwd", "etc/ssl/", "var/"});
    fs::path inc = tree.root().parent_path() / "includes";
    fs::path out = tree.root().parent_path() / "excludes";
    std::ofstream(inc) << "/etc/ssl\n/etc/none\n";
    ::umask(077);
    UnrollOptions options{inc.string(), out.string(), tree.r(), false};
    CHECK(unroll_command(options) == util::ExitCode::findings);
    auto written = util::read_file(out.string());
    REQUIRE(written);
    CHECK(*written == tree.host("/etc/passwd") + "\n" + tree.host("/var") + "\n");
    struct stat st {};
    REQUIRE(::stat(out.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    ::umask(022);

    std::ofstream(inc) << "/etc/ssl\n";
    CHECK(unroll_command(options) == util::ExitCode::ok);

    // A bad list leaves the previous output alone.
    std::ofstream(inc) << "etc\n";
    CHECK_THROWS_AS(unroll_command(options), util::Fatal);
    CHECK(*util::read_file(out.string()) ==
          tree.host("/etc/passwd") + "\n" + tree.host("/var") + "\n");
    options.include_file = (tree.root().parent_path() / "absent").string();
    try {
        unroll_command(options);
        FAIL("no error for a missing include list");
    } catch (const util::Fatal& e) {
        CHECK(e.error().code() == util::ExitCode::permanent);
    }
}
