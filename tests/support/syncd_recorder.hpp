// What backup-syncd's end-to-end tests share: a sync command that records each run, the
// record's reader, and the daemon's status file.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "util/json.hpp"

namespace backup::test {

struct Run {
    std::vector<std::string> appeared;
    std::vector<std::string> gone;
    double started = 0; // seconds since the epoch, from the recorder
    fs::path dir;       // the run's record: appeared, gone, env
};

// A sync command that records each run (its two files and its environment) under runs/, and
// what the tests read from it. Shared by the harnesses of every mode.
class Recorder {
public:
    // body: the shell commands the recorder runs after recording ("exit 0").
    Recorder(const fs::path& work, const std::string& body);

    fs::path runs_dir() const { return m_work / "runs"; }
    fs::path state_dir() const { return m_work / "state"; }
    fs::path log_file() const { return m_work / "backup-syncd.log"; }
    fs::path recorder_path() const { return m_work / "recorder"; }
    fs::path rclone_config() const { return m_work / "rclone.conf"; }

    // rclone_config() with one S3 remote "store" at endpoint, 0600.
    void write_rclone_config(const std::string& endpoint, const std::string& key,
                             const std::string& secret) const;
    // rclone with rclone_config(); fails the test unless it succeeds.
    void rclone(std::vector<std::string> args, std::optional<std::string> input = {}) const;
    // A run script: backup-syncd for web1 listing store:bkt/web1, recording into this recorder,
    // with options ("--poll-interval 1") after the common ones, its output in log_file().
    std::string listing_run_script(const std::string& options) const;

    // The runs recorded so far, oldest first.
    std::vector<Run> runs() const;
    // Waits until count runs are recorded (fails the test, showing the log, on timeout).
    std::vector<Run> wait_for_runs(std::size_t count, std::chrono::milliseconds timeout) const;
    // A new file in source (made once), then `restic backup` of it: the new snapshot's ID.
    std::string backup(const ResticClient& client) const;

protected:
    fs::path m_work;
};

// Seconds since the epoch, as the recorder's `date +%s.%N`.
double now_seconds();

// STATE_DIR/backup-syncd-status.json (fails the test when it cannot be read).
util::Json status_of(const fs::path& state_dir);

} // namespace backup::test
