#include "support/syncd_recorder.hpp"

#include <algorithm>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "state/snapshot_ids.hpp"

namespace backup::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Recorder::Recorder(const fs::path& work, const std::string& body) : m_work(work) {
    fs::create_directories(runs_dir());
    fs::create_directories(state_dir());
    // Each run's record is written under a hidden name and renamed into place whole, so that a
    // reader never sees a record that is still being written.
    std::string recorder =
        fmt::format("#!/bin/sh\n"
                    "stamp=$(date +%s.%N)\n"
                    "d={runs}/.incoming-$stamp\n"
                    "mkdir \"$d\"\n"
                    "cp \"$1\" \"$d/appeared\"; cp \"$2\" \"$d/gone\"\n"
                    "echo \"$BACKUP_CLIENT $BACKUP_REPOSITORY\" > \"$d/env\"\n"
                    "mv \"$d\" {runs}/$stamp\n"
                    "{body}\n",
                    fmt::arg("runs", runs_dir().string()), fmt::arg("body", body));
    REQUIRE(util::atomic_write(recorder_path().string(), recorder, 0755));
}

std::vector<Run> Recorder::runs() const {
    std::vector<Run> out;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(runs_dir())) {
        if (!e.path().filename().string().starts_with(".")) {
            dirs.push_back(e.path());
        }
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
        Run r;
        auto appeared = core::read_snapshot_id_file((d / "appeared").string());
        auto gone = core::read_snapshot_id_file((d / "gone").string());
        REQUIRE(appeared);
        REQUIRE(gone);
        r.appeared = *appeared;
        r.gone = *gone;
        r.started = std::stod(d.filename().string());
        r.dir = d;
        out.push_back(r);
    }
    return out;
}

std::vector<Run> Recorder::wait_for_runs(std::size_t count,
                                         std::chrono::milliseconds timeout) const {
    auto deadline = Clock::now() + timeout;
    while (runs().size() < count && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    auto r = runs();
    INFO("backup-syncd log:\n" << util::read_file(log_file().string()).value_or(""));
    REQUIRE(r.size() >= count);
    return r;
}

std::string Recorder::backup(const ResticClient& client) const {
    fs::path source = m_work / "source";
    if (!fs::exists(source)) {
        make_sample_tree(source);
    }
    REQUIRE(util::atomic_write((source / "changing").string(),
                               std::to_string(Clock::now().time_since_epoch().count()), 0644));
    auto r = client.run({"backup", "--json", "--quiet", source.string()});
    auto last = r.out.substr(r.out.rfind('{'));
    return util::Json::parse(last).at("snapshot_id").get<std::string>();
}

void Recorder::write_rclone_config(const std::string& endpoint, const std::string& key,
                                   const std::string& secret) const {
    std::string config = fmt::format("[store]\ntype = s3\nprovider = Other\nendpoint = {}\n"
                                     "access_key_id = {}\nsecret_access_key = {}\n"
                                     "region = us-east-1\n",
                                     endpoint, key, secret);
    REQUIRE(util::atomic_write(rclone_config().string(), config, 0600));
}

void Recorder::rclone(std::vector<std::string> args, std::optional<std::string> input) const {
    auto env = base_environment();
    env["RCLONE_CONFIG"] = rclone_config().string();
    args.insert(args.begin(), require_program("rclone"));
    auto r = run_cmd(args, env, std::move(input));
    INFO(r.out << r.err);
    REQUIRE(r.success());
}

std::string Recorder::listing_run_script(const std::string& options) const {
    return fmt::format(
        "#!/bin/sh\nexec >>{log} 2>&1\nexec {syncd} --client web1 --remote store:bkt/web1 "
        "--rclone-config {config} --state-dir {state} --script '{recorder}' {options}\n",
        fmt::arg("log", log_file().string()),
        fmt::arg("syncd", (fs::path(tools_dir()) / "backup-syncd").string()),
        fmt::arg("config", rclone_config().string()), fmt::arg("state", state_dir().string()),
        fmt::arg("recorder", recorder_path().string()), fmt::arg("options", options));
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

util::Json status_of(const fs::path& state_dir) {
    auto j = util::read_json_file((state_dir / "backup-syncd-status.json").string());
    REQUIRE(j);
    return *j;
}

} // namespace backup::test
