// backup-status --html over a provisioned server under a real runsvdir, with clients in every
// state, the page then rendered by a real headless Chromium: it loads without a console message,
// its DOM is the one written (the parser moved nothing), every client's state is there as a word,
// and it draws at a phone's and a desktop's width.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <functional>
#include <iostream>
#include <map>
#include <sys/stat.h>
#include <thread>

#include <fmt/format.h>

#include "support/backup_server.hpp"
#include "util/json.hpp"

using namespace backup;
using namespace backup::test;
using namespace std::chrono_literals;

namespace {

// chromium's path on PATH, or "" when it is not installed.
std::string find_chromium() {
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size();) {
        auto end = std::min(dirs.find(':', at), dirs.size());
        fs::path candidate = fs::path(dirs.substr(at, end - at)) / "chromium";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
        at = end + 1;
    }
    return "";
}

// Headless Chromium with a profile and HOME of its own under work, in a process group of its
// own that is killed when it exits (its zygote and renderers with it).
ProcessResult chromium(const std::string& program, const fs::path& work,
                       std::vector<std::string> args) {
    fs::create_directories(work / "home");
    util::SpawnOptions o;
    o.argv = {program,
              "--headless=new",
              "--no-sandbox",
              "--disable-gpu",
              "--no-first-run",
              "--user-data-dir=" + (work / "profile").string(),
              "--enable-logging=stderr",
              "--v=0"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = base_environment();
    o.env["HOME"] = (work / "home").string();
    o.timeout = 120s;
    auto r = util::run(o);
    REQUIRE(r);
    INFO(r->err);
    REQUIRE(r->exit_code() == 0);
    return *r;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

// The client's table row in the page.
std::string row_of(const std::string& page, const std::string& host) {
    auto at = page.find("<tr id=\"client-" + host + "\"");
    REQUIRE(at != std::string::npos);
    return page.substr(at, page.find("</tr>", at) - at);
}

// A PNG's width from its IHDR chunk; 0 when the file is no PNG.
std::uint32_t png_width(const std::string& png) {
    if (png.size() < 24 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
        return 0;
    }
    auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(png[i] & 0xff); };
    return byte(16) << 24 | byte(17) << 16 | byte(18) << 8 | byte(19);
}

void set_mtime(const fs::path& file, std::int64_t seconds_ago) {
    timespec times[2];
    times[0].tv_sec = times[1].tv_sec = std::time(nullptr) - seconds_ago;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
}

std::vector<fs::path> snapshot_files(const fs::path& repository) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(repository / "snapshots")) {
        files.push_back(e.path());
    }
    return files;
}

bool synced(const BackupServer& server, const std::string& host) {
    auto j =
        util::read_json_file((server.client_dir(host) / "state/backup-syncd-status.json").string());
    return j && ((*j)["last_success"].is_string() || (*j)["consecutive_failures"].get<int>() > 0);
}

// Whether backup-status gives the same exit code, table and JSON with --html as without, at the
// same --now. The daemons still retry the failing client's sync and the disk's free space moves
// with the machine, so each comparison is made at a moment when two runs without --html around
// it agree; the filesystems' figures are left out.
bool same_outputs_with_page(const std::function<ProcessResult(std::vector<std::string>)>& status,
                            const std::string& page) {
    auto steady = [](const ProcessResult& r, bool json) {
        if (!json) {
            return fmt::format("{}\n{}", r.exit_code(),
                               r.out.substr(0, r.out.find("\nFILESYSTEM")));
        }
        auto j = util::Json::parse(r.out);
        j.erase("filesystems");
        return fmt::format("{}\n{}", r.exit_code(), j.dump());
    };
    for (bool json : {false, true}) {
        std::vector<std::string> args = {"--now", std::to_string(std::time(nullptr))};
        if (json) {
            args.push_back("--json");
        }
        auto with_page = args;
        with_page.insert(with_page.end(), {"--html", page});
        for (int attempt = 0;; ++attempt) {
            auto before = steady(status(args), json);
            auto with = steady(status(with_page), json);
            auto after = steady(status(args), json);
            if (before == after) {
                INFO(before << "\n---- with --html:\n" << with);
                REQUIRE(before.starts_with("1\n"));
                if (with != before) {
                    return false;
                }
                break;
            }
            REQUIRE(attempt < 20);
        }
    }
    return true;
}

// ok (two snapshots on two days), stale, failing (a destination that cannot be written),
// disabled, new and error (a client.yaml with markup and a Latin-1 byte in a key): the
// server's status page is written to page, with the state each client must show.
std::map<std::string, std::string> make_clients(BackupServer& server, const fs::path& dir) {
    std::map<std::string, std::string> states = {
        {"web-ok", "ok"},    {"db-stale", "stale"}, {"mail-failing", "failing"},
        {"off", "disabled"}, {"newcomer", "new"},   {"broken", "error"}};
    for (const auto& [host, state] : states) {
        server.provision(host, "rest-server");
    }
    server.start();
    for (const auto& [host, state] : states) {
        if (host != "off") {
            server.enable(host);
        }
    }
    auto failing = server.client_config("mail-failing");
    failing.destinations = {{"broken", "/proc/self/no-such-dir/replica", ""}};
    REQUIRE(util::atomic_write((server.client_dir("mail-failing") / "conf/client.yaml").string(),
                               core::render_client_config(failing), 0644));
    fs::path source = dir / "source";
    make_sample_tree(source);
    for (const auto* host : {"web-ok", "db-stale", "mail-failing"}) {
        server.wait_for_storage(host);
        auto client = server.client(host);
        client.run({"init"});
        client.run({"backup", source.string()});
    }
    auto ok_first = snapshot_files(server.client_config("web-ok").repository);
    server.client("web-ok").run({"backup", source.string()});
    REQUIRE(ok_first.size() == 1);
    set_mtime(ok_first[0], 3 * 86400);
    for (const auto& f : snapshot_files(server.client_config("db-stale").repository)) {
        set_mtime(f, 30 * 3600);
    }
    fs::path broken = server.client_dir("broken") / "conf/client.yaml";
    auto text = util::read_file(broken.string());
    REQUIRE(text);
    REQUIRE(util::atomic_write(broken.string(), *text + "\"<script>alert(1)</script> & \xe9\": 1\n",
                               0644));
    return states;
}

} // namespace

TEST_CASE("backup-status --html: a page Chromium renders with every client's state, at a "
          "phone's and a desktop's width",
          "[backup-status][html]") {
    std::string program = find_chromium();
    if (program.empty()) {
        // Catch2 2 has no SKIP: ctest reads this line as a skip (SKIP_REGULAR_EXPRESSION).
        SUCCEED(); // --warn NoAssertions
        std::cout << "SKIPPED: chromium is not installed (deps/debian-packages.txt)\n";
        return;
    }
    auto dir = util::TempDir::create_in_tmp("e2e-status-html");
    REQUIRE(dir);
    {
        BackupServer server(dir->path());
        auto states = make_clients(server, dir->path());
        fs::path page_file = dir->path() / "www/status.html";
        fs::create_directories(page_file.parent_path());
        std::vector<std::string> argv = {(fs::path(tools_dir()) / "backup-status").string(), "-c",
                                         server.config_file().string()};
        auto status = [&](std::vector<std::string> extra) {
            auto a = argv;
            a.insert(a.end(), extra.begin(), extra.end());
            return run_cmd(a, base_environment());
        };
        // Until the services are up and the syncs have run (once each): runit is still starting.
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (true) {
            auto run = status({"--json"});
            auto json = util::Json::parse(run.out);
            bool up = true;
            for (const auto& c : json["clients"]) {
                up = up && (c["state"] != "failing" || c["host"] == "mail-failing");
            }
            if (up && synced(server, "web-ok") && synced(server, "mail-failing")) {
                break;
            }
            INFO(run.out);
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(200ms);
        }

        // The same exit code and outputs with --html as without, the page beside them.
        CHECK(same_outputs_with_page(status, page_file.string()));
        struct stat st {};
        REQUIRE(::stat(page_file.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0644);
        auto page = util::read_file(page_file.string());
        REQUIRE(page);

        fs::path work = dir->path() / "chromium";
        std::string url = "file://" + page_file.string();
        auto dom = chromium(program, work, {"--dump-dom", url});
        // Nothing blocked, nothing failed: Chromium logs every console message as CONSOLE.
        CHECK(dom.err.find(":CONSOLE") == std::string::npos);
        // The DOM is the page as written: nothing was dropped or moved by the parser.
        for (const auto* tag : {"<tr", "<th", "<td", "<svg", "<li", "<table", "<caption"}) {
            INFO(tag);
            CHECK(count_of(dom.out, tag) == count_of(*page, tag));
        }
        CHECK(dom.out.find("<script") == std::string::npos);
        CHECK(dom.out.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; \xef\xbf\xbd") !=
              std::string::npos);
        for (const auto& [host, state] : states) {
            INFO(host);
            CHECK(row_of(dom.out, host)
                      .find(fmt::format(R"(<span class="st st-{0}">{0}</span>)", state)) !=
                  std::string::npos);
        }
        CHECK(row_of(dom.out, "web-ok").find("2 of the last 30 days had a snapshot") !=
              std::string::npos);
        CHECK(row_of(dom.out, "db-stale").find("1 of the last 30 days had a snapshot") !=
              std::string::npos);
        CHECK(row_of(dom.out, "mail-failing").find("broken <span class=\"st st-failing\">") !=
              std::string::npos);

        for (const auto* size : {"412,900", "1280,900"}) {
            INFO(size);
            fs::path png = dir->path() / fmt::format("status-{}.png", size);
            auto shot = chromium(program, work,
                                 {"--screenshot=" + png.string(),
                                  std::string("--window-size=") + size, "--hide-scrollbars", url});
            CHECK(shot.err.find(":CONSOLE") == std::string::npos);
            auto image = util::read_file(png.string());
            REQUIRE(image);
            CHECK(image->size() > 10'000);
            CHECK(png_width(*image) == static_cast<std::uint32_t>(std::stoi(size)));
        }
    }
    require_no_processes(dir->path());
}
