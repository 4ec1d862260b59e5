// An `rclone rcd` owned by one run: rclone's remote control API on a UNIX socket in a private
// 0700 directory, called with JSON through libcurl. One daemon stands in for one rclone process
// per command: it starts once (about 90 ms: rclone's start and config) and keeps its remotes,
// their connections and what it learnt about them (a bucket checked) from call to call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/process.hpp"

namespace backup::util {

struct RcloneDaemonOptions {
    std::string program = "rclone";
    // The daemon's whole environment: credentials come from it (RCLONE_CONFIG_<NAME>_*) or from
    // the config file it names, never from the command line.
    Environment env;
    std::vector<std::string> flags; // global rclone flags ("--s3-no-head"); never a secret
    // --rc-serve: objects readable with stream() (GET /[remote:path]/file).
    bool serve = false;
    std::chrono::milliseconds start_timeout{15000};
    // Where its private directory goes; empty: $TMPDIR (or /tmp).
    std::string parent_dir;
};

// What an rc call answered: its HTTP status and its JSON object (on an error, rclone's
// {"error": ..., "status": ...}).
struct RcloneReply {
    long status = 0;
    Json body;

    bool ok() const { return status == 200; }
    // rclone's message for a failed call ("" when it gave none).
    std::string error() const;
};

// The exit code that an rclone error calls for: 100 for what retrying cannot mend (bad
// parameters, an unknown remote, refused credentials, an immutable file that differs), else 111.
ExitCode rclone_error_class(const RcloneReply& reply);

// A body's chunks, in order; false stops the transfer.
using RcloneSink = std::function<bool(std::string_view chunk)>;

// The daemon. It listens only on a socket in its own 0700 directory, so --rc-no-auth lets in no
// one but this process's user. It runs in this process's process group (a group kill, a
// timeout or `sv kill`, stops it too) and, where setpriv(1) is found, with a parent-death
// signal (KILL), so that it dies with the thread that started it even when that is killed by
// a signal; destroying the object stops it. Calls may be made from several threads at once.
class RcloneDaemon {
public:
    // Starts it and waits until it answers; 111 when it exits first or does not answer within
    // start_timeout (the message ends with what rclone logged).
    static Expected<std::unique_ptr<RcloneDaemon>> start(const RcloneDaemonOptions& options);
    // start() in two steps, so that rclone's start (60 to 150 ms) overlaps other work: spawn()
    // returns as soon as the process runs, wait_ready() waits until it answers (the same
    // errors as start(); the daemon is stopped when it fails).
    static Expected<std::unique_ptr<RcloneDaemon>> spawn(const RcloneDaemonOptions& options);
    Expected<void> wait_ready();
    RcloneDaemon(const RcloneDaemon&) = delete;
    RcloneDaemon& operator=(const RcloneDaemon&) = delete;
    ~RcloneDaemon(); // stop()

    // Calls method ("operations/list") with params (a JSON object); timeout 0: no limit. The
    // error case is the daemon unreachable, gone or too slow (111) or a reply that is not JSON
    // (111); an error that rclone reports is an RcloneReply that is not ok().
    Expected<RcloneReply> call(std::string_view method, const Json& params,
                               std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
    // As call(), with an rclone error turned into an Error ("<what>: <rclone's message>", coded
    // by rclone_error_class).
    Expected<Json> call_ok(std::string_view method, const Json& params, std::string_view what,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
    // Reads the object path of remote fs ("s3remote:bucket/dir") through --rc-serve (serve must
    // be set), handing its bytes to sink; returns the HTTP status (200: all of it was handed
    // over; none for the others: 500 when rclone could not find the object, absent or its HEAD
    // failed; 404 when it found it and the store's GET failed, so neither means "gone"; a
    // transfer cut short is an error). Nothing is buffered here.
    Expected<long> stream(std::string_view fs, std::string_view path, const RcloneSink& sink,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
    // Stops it (TERM, KILL after 2 s) and waits for it; idempotent.
    void stop();
    // What it logged (its last few KiB), for messages.
    std::string log_tail() const;

private:
    RcloneDaemon() = default;

    std::optional<TempDir> m_dir; // 0700: the socket and the log
    std::string m_socket;
    std::optional<Child> m_child;
    std::chrono::steady_clock::time_point m_deadline; // of wait_ready()
    bool m_ready = false;
};

} // namespace backup::util
