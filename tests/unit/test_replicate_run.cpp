// restic-replicate's engine on synthetic repositories (file names are the SHA-256 of their
// content) and local destinations: order, never overwriting, config comparison, verification,
// vanishing files, the ledger, temporary files, independence of destinations, status.
#include "replicate/replicate.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

using namespace backup;
using namespace backup::core;
namespace fs = std::filesystem;

namespace {

// A repository of plain files, each named by the SHA-256 of its content.
struct SyntheticRepo {
    fs::path root;

    explicit SyntheticRepo(fs::path dir) : root(std::move(dir)) { fs::create_directories(root); }

    void write(const std::string& relative, const std::string& content) const {
        fs::create_directories((root / relative).parent_path());
        REQUIRE(util::atomic_write((root / relative).string(), content, 0644));
    }
    // Adds a content-addressed file of phase; returns its relative path.
    std::string add(ReplicatePhase phase, const std::string& content) const {
        std::string relative = replica_path(phase, util::sha256_hex(content));
        write(relative, content);
        return relative;
    }
};

struct Sample {
    std::vector<std::string> keys, data, index, snapshots;
    std::string config = "config of repository A";
};

// config, 2 keys, 4 packs, 2 index files, 3 snapshots, and what is never copied: a lock, a
// rest-server temp file, a stray file, a misplaced pack.
Sample make_sample(const SyntheticRepo& repo) {
    Sample s;
    repo.write("config", s.config);
    for (int i = 0; i < 2; ++i) {
        s.keys.push_back(repo.add(ReplicatePhase::keys, fmt::format("key {}", i)));
    }
    for (int i = 0; i < 4; ++i) {
        s.data.push_back(repo.add(ReplicatePhase::data,
                                  fmt::format("pack {} {}", i, std::string(1000 * i, 'x'))));
    }
    for (int i = 0; i < 2; ++i) {
        s.index.push_back(repo.add(ReplicatePhase::index, fmt::format("index {}", i)));
    }
    for (int i = 0; i < 3; ++i) {
        s.snapshots.push_back(repo.add(ReplicatePhase::snapshots, fmt::format("snapshot {}", i)));
    }
    std::string lock = "a lock";
    repo.write("locks/" + util::sha256_hex(lock), lock);
    repo.write(s.data[0] + ".rest-server-temp", "half a pack");
    repo.write("snapshots/stray", "stray");
    std::string misplaced = "misplaced pack";
    repo.write("data/" + util::sha256_hex(misplaced), misplaced);
    return s;
}

std::vector<std::string> all_files(const Sample& s) {
    std::vector<std::string> out = {"config"};
    for (const auto* list : {&s.keys, &s.data, &s.index, &s.snapshots}) {
        out.insert(out.end(), list->begin(), list->end());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Every regular file under dir (relative path -> content).
std::map<std::string, std::string> tree(const fs::path& dir) {
    std::map<std::string, std::string> out;
    if (!fs::exists(dir)) {
        return out;
    }
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        if (entry.is_regular_file()) {
            out[entry.path().lexically_relative(dir).string()] = *util::read_file(entry.path());
        }
    }
    return out;
}

std::vector<std::string> names(const std::map<std::string, std::string>& files) {
    std::vector<std::string> out;
    for (const auto& [name, content] : files) {
        out.push_back(name);
    }
    return out;
}

Destination local_destination(const std::string& name, const fs::path& path) {
    Destination d;
    d.name = name;
    d.path = path;
    return d;
}

struct Run {
    ReplicateJob job;
    ReplicateOptions options;
    std::vector<std::pair<LogLevel, std::string>> lines;

    Run(const fs::path& source, std::vector<Destination> destinations,
        std::optional<fs::path> state_dir = std::nullopt) {
        job.source = source.string();
        for (auto& d : destinations) {
            job.destinations.push_back({d, d.name});
        }
        job.state_dir = std::move(state_dir);
        options.log = [this](LogLevel level, std::string_view line) {
            lines.emplace_back(level, std::string(line));
        };
    }
    ReplicateReport operator()() {
        lines.clear();
        return replicate(job, options);
    }
    std::size_t count_lines(LogLevel level, std::string_view needle) const {
        std::size_t n = 0;
        for (const auto& [l, text] : lines) {
            n += (l == level && text.find(needle) != std::string::npos) ? 1 : 0;
        }
        return n;
    }
    std::string all_lines() const {
        std::string out;
        for (const auto& [l, text] : lines) {
            out += text + "\n";
        }
        return out;
    }
};

} // namespace

TEST_CASE(
    "replicate: a fresh destination gets keys, config, data, index and snapshots, in that order") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::create_directories(dir.path() / "dest");
    Run run(source.root, {local_destination("usb", dir.path() / "dest")});
    std::vector<ReplicatePhase> phases;
    run.options.before_copy = [&](std::string_view name, ReplicatePhase phase, std::string_view) {
        CHECK(name == "usb");
        phases.push_back(phase);
    };
    auto report = run();
    INFO(run.all_lines());
    REQUIRE_FALSE(report.error);
    CHECK(report.exit_code() == util::ExitCode::ok);
    REQUIRE(report.destinations.size() == 1);
    const auto& d = report.destinations[0];
    CHECK(d.state == ReplicaState::ok);
    CHECK(d.last_success);
    CHECK(d.missing_files == 0);
    CHECK(d.missing_snapshots == 0);
    CHECK(d.files_copied() == all_files(sample).size());
    CHECK(d.copied[phase_index(ReplicatePhase::data)].files == 4);

    // Every phase's files come before the next phase's.
    REQUIRE(phases.size() == all_files(sample).size());
    CHECK(std::is_sorted(phases.begin(), phases.end(),
                         [](auto a, auto b) { return phase_index(a) < phase_index(b); }));
    CHECK(phases.front() == ReplicatePhase::keys);
    CHECK(phases[2] == ReplicatePhase::config);
    CHECK(phases.back() == ReplicatePhase::snapshots);

    // Exactly the repository files, with their content; no lock, temp, stray or misplaced file.
    auto copied = tree(dir.path() / "dest");
    CHECK(names(copied) == all_files(sample));
    auto original = tree(source.root);
    for (const auto& [name, content] : copied) {
        CHECK(content == original[name]);
    }
    // Read-only files, as restic's local backend makes them: the source's config is readable
    // by its group (0644), so the replica's files and directories are too.
    auto mode = [&](const std::string& relative) {
        return fs::status(dir.path() / "dest" / relative).permissions() & fs::perms::all;
    };
    CHECK(mode(sample.data[0]) == (fs::perms::owner_read | fs::perms::group_read));
    CHECK(mode("data") == (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec));
}

TEST_CASE("replicate: a private source gives a private replica") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::permissions(source.root / "config", fs::perms::owner_read | fs::perms::owner_write);
    fs::create_directories(dir.path() / "dest");
    Run run(source.root, {local_destination("usb", dir.path() / "dest")});
    REQUIRE(run().exit_code() == util::ExitCode::ok);
    auto mode = [&](const std::string& relative) {
        return fs::status(dir.path() / "dest" / relative).permissions() & fs::perms::all;
    };
    CHECK(mode(sample.snapshots[0]) == fs::perms::owner_read);
    CHECK(mode("config") == fs::perms::owner_read);
    CHECK(mode("snapshots") == fs::perms::owner_all);
}

TEST_CASE("replicate: the ledger makes the next run copy nothing, --reconcile repairs it") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path dest = dir.path() / "dest";
    fs::create_directories(dest);
    Run run(source.root, {local_destination("usb", dest)}, dir.path() / "state");

    auto first = run();
    REQUIRE(first.exit_code() == util::ExitCode::ok);
    CHECK(first.destinations[0].listed_because == "no ledger yet");
    CHECK(first.destinations[0].files_copied() == all_files(sample).size());
    fs::path ledger_file = dir.path() / "state/replicate/usb.ledger";
    auto ledger = read_replica_ledger(ledger_file.string());
    REQUIRE(ledger);
    REQUIRE(*ledger);
    CHECK((*ledger)->file_count() == all_files(sample).size() - 1); // config is not listed
    CHECK((*ledger)->target == dest.string());
    CHECK((*ledger)->config_sha256 == util::sha256_hex(sample.config));

    auto second = run();
    CHECK(second.exit_code() == util::ExitCode::ok);
    CHECK_FALSE(second.destinations[0].listed_because);
    CHECK(second.destinations[0].files_copied() == 0);

    // A new backup: only its files travel.
    auto pack = source.add(ReplicatePhase::data, "a new pack");
    auto index = source.add(ReplicatePhase::index, "a new index");
    auto snapshot = source.add(ReplicatePhase::snapshots, "a new snapshot");
    auto third = run();
    CHECK(third.destinations[0].files_copied() == 3);
    CHECK(fs::exists(dest / pack));
    CHECK(fs::exists(dest / snapshot));

    // Removed behind its back: the ledger is trusted until --reconcile lists the destination.
    fs::remove(dest / sample.snapshots[1]);
    auto trusting = run();
    CHECK(trusting.destinations[0].files_copied() == 0);
    CHECK_FALSE(fs::exists(dest / sample.snapshots[1]));
    // Emptied behind its back: the missing config gives it away, and it is filled again.
    fs::path emptied = dir.path() / "emptied";
    fs::create_directories(emptied);
    Run other(source.root, {local_destination("spare", emptied)}, dir.path() / "state");
    REQUIRE(other().exit_code() == util::ExitCode::ok);
    fs::remove_all(emptied);
    fs::create_directories(emptied);
    auto refilled = other();
    CHECK(refilled.destinations[0].listed_because == "its config is gone");
    CHECK(refilled.destinations[0].missing_files == 0);
    CHECK(fs::exists(emptied / "config"));
    CHECK(fs::exists(emptied / sample.data[0]));

    run.job.reconcile = true;
    auto repaired = run();
    INFO(run.all_lines());
    CHECK(repaired.destinations[0].listed_because == "--reconcile");
    CHECK(repaired.destinations[0].files_copied() == 1);
    CHECK(fs::exists(dest / sample.snapshots[1]));
    CHECK(run.count_lines(LogLevel::info, "ledger repaired: 0 added, 1 dropped") == 1);
}

TEST_CASE("replicate: without a state directory every run lists the destination") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::create_directories(dir.path() / "dest");
    Run run(source.root, {local_destination("usb", dir.path() / "dest")});
    CHECK(run().destinations[0].files_copied() == all_files(sample).size());
    auto again = run();
    CHECK(again.destinations[0].listed_because == "no state directory");
    CHECK(again.destinations[0].files_copied() == 0);
    CHECK(again.status_file.empty());
    CHECK_FALSE(fs::exists(dir.path() / "source/replicate-status.json"));
}

TEST_CASE("replicate: nothing at a destination is ever overwritten") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path dest = dir.path() / "dest";
    SyntheticRepo existing(dest);
    existing.write("config", sample.config);

    SECTION("a listed file of another size is reported and left alone") {
        existing.write(sample.data[1], "short");
        Run run(source.root, {local_destination("usb", dest)});
        auto report = run();
        INFO(run.all_lines());
        const auto& d = report.destinations[0];
        CHECK(d.differing == 1);
        CHECK(d.state == ReplicaState::incomplete);
        CHECK(report.exit_code() == util::ExitCode::findings);
        CHECK(*util::read_file((dest / sample.data[1]).string()) == "short");
        CHECK(fs::exists(dest / sample.snapshots[2])); // the rest arrived
        CHECK(run.count_lines(LogLevel::error, "never overwritten") == 1);
    }
    SECTION("a file of the same size but other content stops the destination") {
        std::string original = *util::read_file((source.root / sample.data[2]).string());
        std::string forged(original.size(), 'z');
        existing.write(sample.data[2], forged);
        Run run(source.root, {local_destination("usb", dest)});
        auto report = run();
        INFO(run.all_lines());
        const auto& d = report.destinations[0];
        // Listed as present (names and sizes match), so it is not even tried...
        CHECK(d.state == ReplicaState::ok);
        CHECK(*util::read_file((dest / sample.data[2]).string()) == forged);
        // ...and when a run does try (the ledger lacks it), the rename refuses to replace it.
        fs::path state = dir.path() / "state";
        Run with_ledger(source.root, {local_destination("usb", dest)}, state);
        REQUIRE(with_ledger().exit_code() == util::ExitCode::ok);
        auto ledger = **read_replica_ledger((state / "replicate/usb.ledger").string());
        ledger.ids[phase_index(ReplicatePhase::data)].erase(
            fs::path(sample.data[2]).filename().string());
        REQUIRE(write_replica_ledger((state / "replicate/usb.ledger").string(), ledger));
        auto refused = with_ledger();
        INFO(with_ledger.all_lines());
        CHECK(refused.destinations[0].state == ReplicaState::failed);
        CHECK(refused.exit_code() == util::ExitCode::permanent);
        CHECK(refused.destinations[0].error->message().find("never overwritten") !=
              std::string::npos);
        CHECK(*util::read_file((dest / sample.data[2]).string()) == forged);
        // No temporary file stays behind.
        for (const auto& [name, content] : tree(dest)) {
            CHECK_FALSE(is_replica_temporary_name(name));
        }
    }
    SECTION("an identical file the ledger does not know is taken as it is") {
        fs::path state = dir.path() / "state";
        Run run(source.root, {local_destination("usb", dest)}, state);
        REQUIRE(run().exit_code() == util::ExitCode::ok);
        auto ledger = **read_replica_ledger((state / "replicate/usb.ledger").string());
        ledger.ids[phase_index(ReplicatePhase::index)].clear();
        ledger.copied[phase_index(ReplicatePhase::index)].clear(); // copied is part of ids
        REQUIRE(write_replica_ledger((state / "replicate/usb.ledger").string(), ledger));
        auto again = run();
        CHECK(again.exit_code() == util::ExitCode::ok);
        CHECK(again.destinations[0].already_there == 2);
        CHECK(again.destinations[0].files_copied() == 0);
        auto fixed = **read_replica_ledger((state / "replicate/usb.ledger").string());
        CHECK(fixed.ids[phase_index(ReplicatePhase::index)].size() == 2);
        // Found there, not copied by this run: never deleted by retention.
        CHECK(fixed.copied[phase_index(ReplicatePhase::index)].empty());
    }
}

TEST_CASE(
    "replicate: a destination with a different config is refused and nothing is written there") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path other = dir.path() / "other";
    SyntheticRepo foreign(other);
    foreign.write("config", "config of repository B");
    foreign.add(ReplicatePhase::keys, "B's key");
    auto before = tree(other);
    fs::path good = dir.path() / "good";
    fs::create_directories(good);

    Run run(source.root, {local_destination("other", other), local_destination("good", good)},
            dir.path() / "state");
    auto report = run();
    INFO(run.all_lines());
    REQUIRE(report.destinations.size() == 2);
    const auto& refused = report.destinations[0];
    CHECK(refused.state == ReplicaState::failed);
    REQUIRE(refused.error);
    CHECK(refused.error->code() == util::ExitCode::permanent);
    CHECK(refused.error->message().find("different config") != std::string::npos);
    CHECK(refused.missing_snapshots == sample.snapshots.size());
    CHECK(tree(other) == before);
    CHECK_FALSE(fs::exists(dir.path() / "state/replicate/other.ledger"));
    // The other destination is unaffected.
    CHECK(report.destinations[1].state == ReplicaState::ok);
    CHECK(names(tree(good)) == all_files(sample));
    CHECK(report.exit_code() == util::ExitCode::findings);

    // Alone, the refusal is a permanent failure.
    Run alone(source.root, {local_destination("other", other)});
    CHECK(alone().exit_code() == util::ExitCode::permanent);
    CHECK(tree(other) == before);
}

TEST_CASE("replicate: a config present at the destination is compared, not copied") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path dest = dir.path() / "dest";
    SyntheticRepo existing(dest);
    existing.write("config", sample.config);
    Run run(source.root, {local_destination("usb", dest)});
    auto report = run();
    CHECK(report.exit_code() == util::ExitCode::ok);
    CHECK(report.destinations[0].copied[phase_index(ReplicatePhase::config)].files == 0);
    CHECK(report.destinations[0].copied[phase_index(ReplicatePhase::keys)].files == 2);
    CHECK(names(tree(dest)) == all_files(sample));
}

TEST_CASE("replicate: a corrupt source file is reported once and never sent, the rest is copied") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    // One byte flipped: the content no longer hashes to the name.
    std::string content = *util::read_file((source.root / sample.data[3]).string());
    content[content.size() / 2] ^= 0x01;
    source.write(sample.data[3], content);
    fs::create_directories(dir.path() / "one");
    fs::create_directories(dir.path() / "two");
    Run run(source.root,
            {local_destination("one", dir.path() / "one"),
             local_destination("two", dir.path() / "two")},
            dir.path() / "state");
    auto report = run();
    INFO(run.all_lines());
    CHECK(report.corrupt == std::vector<std::string>{sample.data[3]});
    CHECK(run.count_lines(LogLevel::error, sample.data[3]) == 1);
    CHECK(report.exit_code() == util::ExitCode::findings);
    auto expected = all_files(sample);
    expected.erase(std::find(expected.begin(), expected.end(), sample.data[3]));
    for (const auto* name : {"one", "two"}) {
        CHECK(names(tree(dir.path() / name)) == expected);
    }
    for (const auto& d : report.destinations) {
        CHECK(d.state == ReplicaState::incomplete);
        CHECK(d.refused == 1);
        CHECK(d.missing_files == 1);
        CHECK_FALSE(d.last_success);
    }
    auto status = util::read_json_file((dir.path() / "state/replicate-status.json").string());
    REQUIRE(status);
    CHECK((*status)["corrupt_files"] == util::Json::array({sample.data[3]}));
    CHECK((*status)["exit_code"] == 1);
}

TEST_CASE("replicate: files that vanish from the source during a run are skipped, not errors") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::create_directories(dir.path() / "dest");
    Run run(source.root, {local_destination("usb", dir.path() / "dest")});
    // Packs are copied in the order of their names.
    auto packs = sample.data;
    std::sort(packs.begin(), packs.end());
    // A prune removes a pack and an index while the first pack is copied.
    run.options.before_copy = [&](std::string_view, ReplicatePhase, std::string_view relative) {
        if (relative == packs[0]) {
            fs::remove(source.root / packs[2]);
            fs::remove(source.root / sample.index[1]);
        }
    };
    auto report = run();
    INFO(run.all_lines());
    CHECK(report.exit_code() == util::ExitCode::ok);
    const auto& d = report.destinations[0];
    CHECK(d.state == ReplicaState::ok);
    CHECK(d.vanished == 2);
    CHECK(d.missing_files == 0);
    CHECK_FALSE(fs::exists(dir.path() / "dest" / packs[2]));
    CHECK(fs::exists(dir.path() / "dest" / packs[3]));
    CHECK(fs::exists(dir.path() / "dest" / sample.index[0]));
    CHECK(fs::exists(dir.path() / "dest" / sample.snapshots[0]));
}

TEST_CASE("replicate: stale temporary files of an interrupted run are removed, others left alone") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path dest = dir.path() / "dest";
    fs::create_directories(dest);
    fs::path state = dir.path() / "state";
    Run run(source.root, {local_destination("usb", dest)}, state);
    REQUIRE(run().exit_code() == util::ExitCode::ok);
    CHECK_FALSE(fs::exists(state / "replicate/usb.interrupted"));

    // What a killed run leaves: its temporary files and its marker.
    std::string ours = sample.data[1] + std::string(k_replica_temporary_marker) + "Ab12Cd";
    std::string ours_config = "config" + std::string(k_replica_temporary_marker) + "Zz99Yy";
    std::string restics = sample.snapshots[0] + "-tmp-12345";
    REQUIRE(util::atomic_write((dest / ours).string(), "partial", 0600));
    REQUIRE(util::atomic_write((dest / ours_config).string(), "partial", 0600));
    REQUIRE(util::atomic_write((dest / restics).string(), "not ours", 0600));
    REQUIRE(util::atomic_write((state / "replicate/usb.interrupted").string(), "", 0600));
    auto new_snapshot = source.add(ReplicatePhase::snapshots, "one more snapshot");

    auto report = run();
    INFO(run.all_lines());
    CHECK(report.exit_code() == util::ExitCode::ok);
    CHECK(report.destinations[0].listed_because == "its last run was interrupted");
    CHECK(report.destinations[0].removed_temporaries == 2);
    CHECK(report.destinations[0].files_copied() == 1);
    CHECK_FALSE(fs::exists(dest / ours));
    CHECK_FALSE(fs::exists(dest / ours_config));
    CHECK(fs::exists(dest / restics));
    CHECK(fs::exists(dest / new_snapshot));
    CHECK_FALSE(fs::exists(state / "replicate/usb.interrupted"));
}

TEST_CASE("replicate: a failing phase stops its destination before the later phases") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    make_sample(source);
    fs::path dest = dir.path() / "dest";
    fs::create_directories(dest);
    // data/ cannot be created: a file is in the way.
    REQUIRE(util::atomic_write((dest / "data").string(), "in the way", 0600));
    Run run(source.root, {local_destination("usb", dest)});
    auto report = run();
    INFO(run.all_lines());
    const auto& d = report.destinations[0];
    CHECK(d.state == ReplicaState::failed);
    CHECK(d.copied[phase_index(ReplicatePhase::keys)].files == 2);
    CHECK(d.copied[phase_index(ReplicatePhase::config)].files == 1);
    CHECK(d.copied[phase_index(ReplicatePhase::index)].files == 0);
    CHECK(d.copied[phase_index(ReplicatePhase::snapshots)].files == 0);
    CHECK_FALSE(fs::exists(dest / "index"));
    CHECK_FALSE(fs::exists(dest / "snapshots"));
    CHECK(d.missing_snapshots == 3);
    CHECK(report.exit_code() == util::ExitCode::permanent);
}

TEST_CASE("replicate: destinations are independent, a missing directory is a temporary failure") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    fs::path missing = dir.path() / "not-mounted";
    fs::path good = dir.path() / "good";
    fs::create_directories(good);
    fs::path state = dir.path() / "state";

    Run both(source.root, {local_destination("usb", missing), local_destination("nas", good)},
             state);
    auto report = both();
    INFO(both.all_lines());
    CHECK(report.exit_code() == util::ExitCode::findings);
    CHECK(report.destinations[0].state == ReplicaState::failed);
    CHECK(report.destinations[0].error->code() == util::ExitCode::temporary);
    CHECK(report.destinations[0].error->message().find("does not exist") != std::string::npos);
    CHECK_FALSE(fs::exists(missing)); // never created: it may be a disk that is not mounted
    CHECK(report.destinations[1].state == ReplicaState::ok);

    // The status says which failed, how far behind it is, and when each last succeeded.
    auto status = util::read_json_file((state / "replicate-status.json").string());
    REQUIRE(status);
    CHECK((*status)["schema"] == k_replicate_status_schema);
    CHECK((*status)["exit_code"] == 1);
    auto& usb = (*status)["destinations"][0];
    CHECK(usb["name"] == "usb");
    CHECK(usb["state"] == "failed");
    CHECK(usb["error_code"] == 111);
    CHECK(usb["missing_snapshots"] == sample.snapshots.size());
    CHECK(usb["newest_missing_snapshot"].is_object());
    CHECK(usb["last_success"].is_null());
    CHECK((*status)["destinations"][1]["state"] == "ok");
    CHECK((*status)["destinations"][1]["last_success"].is_string());

    // A later success is recorded, and kept through a later failure.
    fs::create_directories(missing);
    auto recovered = both();
    CHECK(recovered.exit_code() == util::ExitCode::ok);
    std::string success = *recovered.destinations[0].last_success;
    fs::remove_all(missing);
    auto failed_again = both();
    CHECK(failed_again.destinations[0].state == ReplicaState::failed);
    CHECK(failed_again.destinations[0].last_success == success);

    // Every destination failing for a temporary reason: 111.
    Run alone(source.root, {local_destination("usb", missing)});
    CHECK(alone().exit_code() == util::ExitCode::temporary);
}

TEST_CASE("replicate: the newest missing snapshot is the one that arrived last") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    auto sample = make_sample(source);
    auto base = fs::file_time_type::clock::now() - std::chrono::hours(10);
    for (std::size_t i = 0; i < sample.snapshots.size(); ++i) {
        // The second one arrived last.
        fs::last_write_time(source.root / sample.snapshots[i],
                            base + std::chrono::hours(i == 1 ? 5 : static_cast<int>(i)));
    }
    Run run(source.root, {local_destination("usb", dir.path() / "absent")});
    auto report = run();
    REQUIRE(report.destinations[0].newest_missing_snapshot);
    CHECK(report.destinations[0].newest_missing_snapshot->id ==
          fs::path(sample.snapshots[1]).filename().string());
}

TEST_CASE("replicate: one run at a time: a held lock is a temporary failure") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    make_sample(source);
    fs::path dest = dir.path() / "dest";
    fs::create_directories(dest);
    fs::path state = dir.path() / "state";
    fs::create_directories(state / "replicate");
    Run run(source.root, {local_destination("usb", dest)}, state);
    {
        auto held = util::open_fd((state / "replicate/lock").string(), O_RDWR | O_CREAT, 0600);
        REQUIRE(held);
        REQUIRE(::flock(held->get(), LOCK_EX) == 0);
        auto report = run();
        REQUIRE(report.error);
        CHECK(report.exit_code() == util::ExitCode::temporary);
        CHECK(tree(dest).empty());
    }
    {
        // Another process copying to the same local directory.
        auto held = util::open_fd(dest.string(), O_RDONLY | O_DIRECTORY);
        REQUIRE(held);
        REQUIRE(::flock(held->get(), LOCK_EX) == 0);
        auto report = run();
        REQUIRE_FALSE(report.error);
        CHECK(report.destinations[0].state == ReplicaState::failed);
        CHECK(report.exit_code() == util::ExitCode::temporary);
        CHECK(tree(dest).empty());
    }
    CHECK(run().exit_code() == util::ExitCode::ok);
}

TEST_CASE("replicate: a source that is not a repository is a permanent error") {
    auto dir = test::temp_dir("unit-replicate");
    SyntheticRepo source(dir.path() / "source");
    source.add(ReplicatePhase::data, "a pack without config");
    Run run(source.root, {local_destination("usb", dir.path())});
    auto report = run();
    REQUIRE(report.error);
    CHECK(report.exit_code() == util::ExitCode::permanent);
    CHECK(report.error->message().find("no config") != std::string::npos);
    Run nowhere(dir.path() / "missing", {local_destination("usb", dir.path())});
    CHECK(nowhere().exit_code() == util::ExitCode::permanent);
}

TEST_CASE("replicate: the exit code follows the destinations' states") {
    ReplicateReport report;
    CHECK(report.exit_code() == util::ExitCode::ok);
    DestinationReport ok;
    DestinationReport temporary;
    temporary.state = ReplicaState::failed;
    temporary.error = util::Error(util::ExitCode::temporary, "unable to reach it");
    DestinationReport permanent;
    permanent.state = ReplicaState::failed;
    permanent.error = util::Error(util::ExitCode::permanent, "another repository");
    DestinationReport incomplete;
    incomplete.state = ReplicaState::incomplete;

    report.destinations = {ok, ok};
    CHECK(report.exit_code() == util::ExitCode::ok);
    report.destinations = {ok, incomplete};
    CHECK(report.exit_code() == util::ExitCode::findings);
    report.destinations = {ok, temporary};
    CHECK(report.exit_code() == util::ExitCode::findings);
    report.destinations = {permanent, permanent};
    CHECK(report.exit_code() == util::ExitCode::permanent);
    report.destinations = {permanent, temporary};
    CHECK(report.exit_code() == util::ExitCode::temporary);
    report.destinations = {ok};
    report.status_error = util::Error(util::ExitCode::temporary, "unable to write status");
    CHECK(report.exit_code() == util::ExitCode::temporary);
    report.error = util::Error(util::ExitCode::permanent, "unable to read config");
    CHECK(report.exit_code() == util::ExitCode::permanent);
}
