// fuzz_parsers: a seeded mutation fuzzer for every parser of outside input. g++ 12 has no
// libFuzzer, and AFL++'s GCC plugin is an extra toolchain to keep alive in CI; this driver needs
// nothing but the library, and runs under the ASan/UBSan build (make fuzz) as well as the normal
// one (the smoke test in make test).
//
//   fuzz_parsers [TARGET|all] [--seconds S] [--seed N] [--crashes DIR]
//
// Each target starts from its seed files (tests/fuzz/seeds/TARGET/*) and a few built-in seeds,
// and applies 1 to 4 mutations per run: bit flips, interesting bytes (quotes, $, {, :, NUL, CR,
// a Latin-1 byte...), inserted or deleted ranges, duplicated ranges, splices with another seed,
// and tokens of the target's syntax. A parser must return (accept or refuse); an exception that
// escapes, a failed invariant, or a crash is a finding: the input is written to CRASHES/TARGET-
// <hash> (on a crash by the signal handler, from a buffer set before each run) and the driver
// exits 1. Every input it saved becomes a seed under tests/fuzz/seeds/TARGET/ once fixed.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "model/config.hpp"
#include "model/environ.hpp"
#include "model/repository.hpp"
#include "model/runit.hpp"
#include "state/audit_state.hpp"
#include "state/audit_status.hpp"
#include "state/replicate_hold.hpp"
#include "state/replicate_ledger.hpp"
#include "state/replicate_status.hpp"
#include "state/snapshot_ids.hpp"
#include "state/syncd_state.hpp"
#include "state/syncd_status.hpp"
#include "syncd/event_request.hpp"
#include "syncd/lister.hpp"
#include "unroll/unroll.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace fs = std::filesystem;
using namespace backup;

namespace {

// What a target found wrong with an input it did not crash on.
struct Finding {
    std::string what;
};

struct Target {
    std::string name;
    std::vector<std::string> builtin_seeds;
    std::vector<std::string> tokens;
    // Whether the input was accepted, for any input; throws Finding when an invariant fails.
    std::function<bool(const std::string&)> run;
};

// --- the scratch directory the file-based parsers read from ---------------------------------

fs::path g_scratch;

void write_scratch(const std::string& name, const std::string& bytes) {
    std::string path = (g_scratch / name).string();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::perror("fuzz_parsers: write the scratch file");
        std::exit(111);
    }
    ::close(fd);
}

std::optional<util::Json> as_json(const std::string& text) {
    util::Json json = util::Json::parse(text, nullptr, false);
    if (json.is_discarded()) {
        return std::nullopt;
    }
    return json;
}

// --- targets ---------------------------------------------------------------------------------

void check(bool ok, std::string_view what) {
    if (!ok) {
        throw Finding{std::string(what)};
    }
}

std::vector<Target> make_targets() {
    std::vector<Target> t;
    t.push_back({"environ",
                 {"export RESTIC_REPOSITORY=s3:https://backup:8100/web1\n"
                  "AWS_ACCESS_KEY_ID='key'\nexport RESTIC_PASSWORD_FILE=\"/etc/restic/pw\"\n# c\n"},
                 {"export ", "=", "'", "\"", "\\", "$", "$(", "`", "{a,b}", "~", ";", "|", "\r",
                  "#", " ", "\n", "*", "[", "?"},
                 [](const std::string& in) {
                     auto parsed = core::parse_environ(in, "fuzz");
                     if (parsed) {
                         for (const auto& a : *parsed) {
                             check(!a.name.empty(), "an accepted assignment without a name");
                         }
                     } else {
                         check(parsed.error().code() == util::ExitCode::permanent,
                               "a refusal that is not permanent");
                     }
                     return parsed.has_value();
                 }});
    t.push_back({"include-list",
                 {"/etc\n/home/alice\n/var/lib/app/\n", "# c\n/srv/./data//x\n"},
                 {"/", "..", ".", "\n", "#", " ", std::string(1, '\0'), "//", "/./"},
                 [](const std::string& in) {
                     auto parsed = core::parse_include_list(in, "fuzz");
                     if (!parsed) {
                         return false;
                     }
                     for (const auto& p : *parsed) {
                         check(p.starts_with('/'), "an accepted include that is not absolute");
                         check(p.find("/../") == std::string::npos && !p.ends_with("/.."),
                               "an accepted include with '..'");
                         check(p.find('\0') == std::string::npos, "an accepted include with NUL");
                     }
                     return true;
                 }});
    t.push_back(
        {"client-yaml",
         {"schema: 1\nhost: web1\nserver:\n  kind: versitygw\n  topology: dedicated\n"
          "  address: 127.0.0.1\n  port: 8100\n  user: web1\n  bucket: web1\n  tls: true\n"
          "repository: /backups/systems/web1/data/web1\nowner:\n  user: restic\n"
          "  group: restic\ndestinations:\n  - name: disk2\n    path: /mnt/disk2/web1\n"
          "audit:\n  fraction: 30\nstatus:\n  expected_interval_hours: 26\n"},
         {": ", "- ", "{", "}", "[", "]", "'", "\"", "&a", "*a", "!!", "|", ">", "\n  ", "\t",
          "\xe9", "~", "null", "-1"},
         [](const std::string& in) {
             write_scratch("client.yaml", in);
             return core::load_client_config((g_scratch / "client.yaml").string()).has_value();
         }});
    t.push_back({"server-yaml",
                 {"root: /backups\nserver: versitygw\ntopology: dedicated\nports: {min: 8100, "
                  "max: 8999}\nowner: {user: restic, group: restic}\ntls:\n  names: [a, "
                  "10.0.0.5]\n  validity: 365d\ndestinations:\n  - {name: d, path: "
                  "'/mnt/d/{host}'}\n  - {name: b2, remote: 'b2:bucket/{host}'}\nstatus:\n  "
                  "fill_warning: 14d\n"},
                 {": ", "- ", "{", "}", "[", "]", "'", "\"", "&a", "*a", "\n  ", "{host}", "off",
                  "\xe9", "~"},
                 [](const std::string& in) {
                     write_scratch("server.yaml", in);
                     return core::load_server_config((g_scratch / "server.yaml").string(), true)
                         .has_value();
                 }});
    t.push_back(
        {"supervise-status",
         {std::string("\x40\x00\x00\x00\x60\x00\x00\x00\x00\x00\x00\x00\x39\x30\x00\x00"
                      "\x00\x75\x00\x01",
                      20)},
         {std::string(1, '\0'), "u", "d", "\x01", "\xff"},
         [](const std::string& in) { return core::parse_supervise_status(in).has_value(); }});
    t.push_back({"rclone-lsf",
                 {std::string(64, 'a') + "\n" + std::string(64, 'b') + ".tmp\nstray\n"},
                 {"\n", "\r", "a", "0", "g", "/", " ", std::string(1, '\0')},
                 [](const std::string& in) {
                     for (const auto& id : core::snapshot_ids_from_lsf(in)) {
                         check(core::is_repository_id(id), "a listed name that is no snapshot id");
                     }
                     return true;
                 }});
    t.push_back({"snapshot-ids",
                 {std::string(64, 'a') + std::string(1, '\0') + std::string(64, '0') +
                  std::string(1, '\0')},
                 {std::string(1, '\0'), "a", "0", "g", "\n"},
                 [](const std::string& in) {
                     write_scratch("ids", in);
                     auto ids = core::read_snapshot_id_file((g_scratch / "ids").string());
                     if (ids) {
                         for (const auto& id : *ids) {
                             check(id.size() == 64, "an accepted snapshot id of the wrong length");
                         }
                     }
                     return ids.has_value();
                 }});
    auto json_target = [&](std::string name, std::string seed,
                           std::function<bool(const util::Json&)> read) {
        t.push_back({std::move(name),
                     {std::move(seed)},
                     {"\"", ":", ",", "{", "}", "[", "]", "null", "-1", "1e999", "\"\\u0000\"",
                      "\"schema\"", "true"},
                     [read](const std::string& in) {
                         auto json = as_json(in);
                         return json && read(*json);
                     }});
    };
    core::AuditState audit_state;
    audit_state.repository = "/backups/systems/web1/data/web1";
    audit_state.rotation = {30, 3, std::string("data/00/00ab"), "2026-12-01T00:00:00.000Z", false};
    json_target(
        "audit-state", core::audit_state_to_json(audit_state).dump(),
        [](const util::Json& j) { return core::audit_state_from_json(j, "fuzz").has_value(); });
    core::AuditStatus audit_status;
    audit_status.repository = "/backups/systems/web1/data/web1";
    audit_status.label = "web1";
    audit_status.started = "2026-12-01T03:30:00.000Z";
    audit_status.finished = "2026-12-01T03:31:00.000Z";
    audit_status.result = "clean";
    audit_status.mode = "rotation";
    json_target(
        "audit-status", core::audit_status_to_json(audit_status).dump(),
        [](const util::Json& j) { return core::audit_status_from_json(j, "fuzz").has_value(); });
    json_target(
        "replicate-ledger", core::replica_ledger_to_json(core::ReplicaLedger{}).dump(),
        [](const util::Json& j) { return core::replica_ledger_from_json(j, "fuzz").has_value(); });
    json_target("replicate-hold",
                core::replica_hold_to_json({"usb", "2026-12-01T03:30:00.000Z"}).dump(),
                [](const util::Json& j) {
                    return core::replica_hold_from_json(j, "fuzz", "usb").has_value();
                });
    json_target("replicate-status", core::replicate_status_to_json(core::ReplicateStatus{}).dump(),
                [](const util::Json& j) {
                    return core::replicate_status_from_json(j, "fuzz").has_value();
                });
    t.push_back({"syncd-state",
                 {"{\"schema\": 1, \"synced\": [\"" + std::string(64, 'b') + "\"]}"},
                 {"\"", ":", ",", "{", "}", "[", "]", "null", "\"schema\""},
                 [](const std::string& in) {
                     write_scratch(std::string(core::k_syncd_state_file), in);
                     return core::read_sync_state(g_scratch).has_value();
                 }});
    core::SyncStatus sync_status;
    sync_status.client = "web1";
    sync_status.watchdir = "/backups/systems/web1/data/web1/snapshots";
    sync_status.pid = 42;
    sync_status.updated = "2026-12-01T03:30:00.000Z";
    sync_status.last_result = "ok";
    // The seed as the daemon writes it.
    std::string status_seed;
    if (core::write_sync_status(g_scratch, sync_status)) {
        status_seed = util::read_file((g_scratch / std::string(core::k_syncd_status_file)).string())
                          .value_or("");
    }
    t.push_back({"syncd-status",
                 {status_seed},
                 {"\"", ":", ",", "{", "}", "[", "]", "null", "\"schema\"", "\"pid\""},
                 [](const std::string& in) {
                     write_scratch(std::string(core::k_syncd_status_file), in);
                     return core::read_sync_status(g_scratch).has_value();
                 }});
    // backup-syncd's bucket-event listener: whatever reaches its port, in two pieces split where
    // the input's first byte says, then the event classifier on the body.
    t.push_back({"event-request",
                 {"\x17POST /hook HTTP/1.1\r\nContent-Length: 59\r\n\r\n"
                  "{\"Records\":[{\"s3\":{\"object\":{\"key\":\"web1/snapshots/ab\"}}}]}",
                  "\x05POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"},
                 {"\r\n", "\r\n\r\n", ": ", "Content-Length: ", "Transfer-Encoding: chunked",
                  "Expect: 100-continue", "POST ", " HTTP/1.1", "{", "}", "[", "]", "\"Records\"",
                  "\"key\"", "snapshots/", "%2F", "+"},
                 [](const std::string& in) {
                     if (in.empty()) {
                         return false;
                     }
                     std::string_view bytes = std::string_view(in).substr(1);
                     std::size_t split =
                         std::min<std::size_t>(static_cast<unsigned char>(in[0]), bytes.size());
                     core::EventRequest r;
                     r.add(bytes.substr(0, split));
                     (void)r.take_continue();
                     r.add(bytes.substr(split));
                     check(r.body().size() <= core::k_max_event_body, "a body over the bound");
                     check((r.state() == core::EventRequest::State::complete) ==
                               (r.status() == 200),
                           "a status that does not match the state");
                     check(r.response().starts_with("HTTP/1.1 "), "an answer that is not HTTP");
                     if (r.state() != core::EventRequest::State::complete) {
                         return false;
                     }
                     (void)core::event_may_concern_snapshots(r.body());
                     return true;
                 }});
    return t;
}

// --- mutation --------------------------------------------------------------------------------

struct Rng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

const std::string k_interesting = std::string("\0\xff\x7f\n\r\t \"'$`{}[]:#\\\xe9\xc3", 21);

std::string mutate(std::string in, const Target& t, const std::vector<std::string>& corpus,
                   Rng& rng) {
    int rounds = 1 + static_cast<int>(rng.below(4));
    for (int r = 0; r < rounds; ++r) {
        std::size_t at = rng.below(in.size() + 1);
        switch (rng.below(7)) {
        case 0: // flip a bit
            if (!in.empty()) {
                in[rng.below(in.size())] ^= static_cast<char>(1u << rng.below(8));
            }
            break;
        case 1: // an interesting byte
            if (!in.empty()) {
                in[rng.below(in.size())] = k_interesting[rng.below(k_interesting.size())];
            }
            break;
        case 2: // insert one
            in.insert(at, 1, k_interesting[rng.below(k_interesting.size())]);
            break;
        case 3: // delete a range
            if (!in.empty()) {
                std::size_t from = rng.below(in.size());
                in.erase(from, 1 + rng.below(std::min<std::size_t>(16, in.size() - from)));
            }
            break;
        case 4: // duplicate a range
            if (!in.empty()) {
                std::size_t from = rng.below(in.size());
                std::size_t n = 1 + rng.below(std::min<std::size_t>(32, in.size() - from));
                in.insert(at, in.substr(from, n));
            }
            break;
        case 5: { // splice with another seed
            const std::string& other = corpus[rng.below(corpus.size())];
            std::size_t from = rng.below(other.size() + 1);
            in = in.substr(0, at) + other.substr(from);
            break;
        }
        default: // a token of the syntax
            in.insert(at, t.tokens[rng.below(t.tokens.size())]);
            break;
        }
        if (in.size() > 65536) {
            in.resize(65536);
        }
    }
    return in;
}

// --- crash capture ---------------------------------------------------------------------------

// The input of the run in progress, for the signal handler (which may only write(2)).
const std::string* g_current = nullptr;
int g_crash_fd = -1;

extern "C" void on_crash(int sig) {
    if (g_crash_fd >= 0 && g_current != nullptr) {
        (void)!::write(g_crash_fd, g_current->data(), g_current->size());
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void save_input(const fs::path& crashes, const Target& t, const std::string& input) {
    fs::create_directories(crashes);
    fs::path file = crashes / fmt::format("{}-{}", t.name, util::sha256_hex(input).substr(0, 16));
    write_scratch("..saved", input);
    fs::copy_file(g_scratch / "..saved", file, fs::copy_options::overwrite_existing);
    std::fprintf(stderr, "fuzz_parsers: %s: the input is saved as %s\n", t.name.c_str(),
                 file.c_str());
}

std::vector<std::string> seeds_of(const Target& t, const fs::path& seed_dir) {
    std::vector<std::string> corpus = t.builtin_seeds;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(seed_dir / t.name, ec)) {
        if (auto text = util::read_file(e.path().string())) {
            corpus.push_back(*text);
        }
    }
    return corpus;
}

struct Options {
    std::string target = "all";
    double seconds = 5;
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    fs::path crashes = "fuzz-crashes";
    fs::path seeds = FUZZ_SEED_DIR;
};

// Runs one target for its share of the time; false on a finding.
bool fuzz(const Target& t, const Options& o, Rng& rng) {
    std::vector<std::string> corpus = seeds_of(t, o.seeds);
    std::string crash_path = (o.crashes / fmt::format("{}-crash", t.name)).string();
    fs::create_directories(o.crashes);
    g_crash_fd = ::open(crash_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration<double>(o.seconds);
    std::uint64_t runs = 0;
    std::uint64_t accepted = 0;
    std::size_t seeds_accepted = 0;
    std::string input;
    g_current = &input;
    // Every seed as it is first, then mutations until the time is up.
    for (std::size_t i = 0;; ++i) {
        input = i < corpus.size() ? corpus[i]
                                  : mutate(corpus[rng.below(corpus.size())], t, corpus, rng);
        try {
            bool ok = t.run(input);
            accepted += ok ? 1 : 0;
            seeds_accepted += ok && i < corpus.size() ? 1 : 0;
        } catch (const Finding& f) {
            std::fprintf(stderr, "fuzz_parsers: %s: %s\n", t.name.c_str(), f.what.c_str());
            save_input(o.crashes, t, input);
            return false;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "fuzz_parsers: %s: an exception escaped: %s\n", t.name.c_str(),
                         e.what());
            save_input(o.crashes, t, input);
            return false;
        }
        ++runs;
        if ((runs & 63) == 0 && std::chrono::steady_clock::now() >= deadline) {
            break;
        }
    }
    g_current = nullptr;
    ::close(g_crash_fd);
    g_crash_fd = -1;
    fs::remove(crash_path);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-17s %9llu runs in %5.1f s (%8.0f/s), %5.1f%% accepted, %zu of %zu seeds "
                "accepted\n",
                t.name.c_str(), static_cast<unsigned long long>(runs), took,
                static_cast<double>(runs) / took,
                100.0 * static_cast<double>(accepted) /
                    static_cast<double>(std::max<std::uint64_t>(runs, 1)),
                seeds_accepted, corpus.size());
    std::fflush(stdout);
    return true;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "fuzz_parsers: error: %s needs a value\n", a.c_str());
                std::exit(100);
            }
            return argv[++i];
        };
        if (a == "--seconds") {
            o.seconds = std::stod(value());
        } else if (a == "--seed") {
            o.seed = std::stoull(value());
        } else if (a == "--crashes") {
            o.crashes = value();
        } else if (a == "--seeds") {
            o.seeds = value();
        } else if (a == "--help" || a == "-h") {
            std::puts("usage: fuzz_parsers [TARGET|all] [--seconds S] [--seed N] [--crashes DIR] "
                      "[--seeds DIR]");
            return 0;
        } else {
            o.target = a;
        }
    }
    auto scratch = util::TempDir::create_in_tmp("fuzz-parsers");
    if (!scratch) {
        std::fprintf(stderr, "fuzz_parsers: error: %s\n", scratch.error().message().c_str());
        return 111;
    }
    g_scratch = scratch->path();
    for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) {
        ::signal(sig, on_crash);
    }
    Rng rng{o.seed | 1};
    auto targets = make_targets();
    std::vector<const Target*> chosen;
    for (const auto& t : targets) {
        if (o.target == "all" || o.target == t.name) {
            chosen.push_back(&t);
        }
    }
    if (chosen.empty()) {
        std::fprintf(stderr, "fuzz_parsers: error: no target '%s'\n", o.target.c_str());
        return 100;
    }
    Options each = o;
    each.seconds = o.seconds / static_cast<double>(chosen.size());
    for (const auto* t : chosen) {
        if (!fuzz(*t, each, rng)) {
            return 1;
        }
    }
    return 0;
}
