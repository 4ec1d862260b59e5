#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <thread>
#include <unistd.h>

#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/signals.hpp"

using namespace backup::util;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

SpawnOptions shell(const std::string& script) {
    SpawnOptions o;
    o.argv = {"/bin/sh", "-c", script};
    o.env = {{"PATH", "/usr/bin:/bin"}};
    return o;
}

bool pid_alive(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

} // namespace

TEST_CASE("run captures stdout and stderr separately and reports the exit code") {
    auto r = run(shell("echo out; echo err >&2; exit 3"));
    REQUIRE(r);
    CHECK(r->out == "out\n");
    CHECK(r->err == "err\n");
    CHECK(r->exited());
    CHECK(r->exit_code() == 3);
    CHECK_FALSE(r->success());
    CHECK(r->describe() == "exited with status 3");
}

TEST_CASE("run passes exactly the given environment and arguments") {
    SpawnOptions o;
    o.argv = {"/usr/bin/env"};
    o.env = {{"ONLY", "this one"}};
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->out == "ONLY=this one\n");

    auto args = run(shell("printf '[%s]' \"$@\"; echo"));
    REQUIRE(args);
    SpawnOptions with_args = shell("printf '[%s]' \"$@\"");
    with_args.argv.insert(with_args.argv.end(), {"sh", "a b", "", "$HOME"});
    auto spaced = run(with_args);
    REQUIRE(spaced);
    CHECK(spaced->out == "[a b][][$HOME]");
}

TEST_CASE("run feeds stdin, also when larger than a pipe buffer") {
    SpawnOptions o = shell("wc -c");
    o.stdin_data = std::string(1 << 20, 'z');
    auto r = run(o);
    REQUIRE(r);
    CHECK(std::stoul(r->out) == (1u << 20));
}

TEST_CASE("run survives a child that does not read its stdin") {
    SpawnOptions o = shell("exit 0");
    o.stdin_data = std::string(1 << 20, 'z');
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->success());
}

TEST_CASE("run looks the program up in the given PATH") {
    SpawnOptions o;
    o.argv = {"true"};
    o.env = {{"PATH", "/nonexistent:/bin:/usr/bin"}};
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->success());

    o.env = {{"PATH", "/nonexistent"}};
    auto missing = run(o);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message().find("not found in PATH") != std::string::npos);
}

TEST_CASE("run honours cwd") {
    auto dir = TempDir::create_in_tmp("unit-spawn");
    REQUIRE(dir);
    SpawnOptions o = shell("pwd -P");
    o.cwd = dir->str();
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->out == std::filesystem::canonical(dir->path()).string() + "\n");
}

TEST_CASE("a timeout stops the whole process group, grandchildren included") {
    auto dir = TempDir::create_in_tmp("unit-spawn");
    REQUIRE(dir);
    std::string pidfile = dir->str() + "/grandchild";
    // The grandchild ignores nothing; the shell waits on it.
    SpawnOptions o = shell("sleep 30 & echo $! > " + pidfile + "; wait");
    o.timeout = 300ms;
    o.kill_grace = 500ms;
    auto start = std::chrono::steady_clock::now();
    auto r = run(o);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(r);
    CHECK(r->timed_out);
    CHECK_FALSE(r->success());
    CHECK(took < 5s);
    pid_t grandchild = std::stoi(*read_file(pidfile));
    // Reaped by init soon after it died; give it a moment.
    for (int i = 0; i < 100 && pid_alive(grandchild); ++i) {
        std::this_thread::sleep_for(20ms);
    }
    CHECK_FALSE(pid_alive(grandchild));
}

TEST_CASE("a child that ignores TERM is killed after the grace period") {
    SpawnOptions o = shell("trap '' TERM; while :; do sleep 0.05; done");
    o.timeout = 200ms;
    o.kill_grace = 300ms;
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->timed_out);
    CHECK(r->signal() == SIGKILL);
}

TEST_CASE("background processes left by a finished command are stopped with its group") {
    auto dir = TempDir::create_in_tmp("unit-spawn");
    REQUIRE(dir);
    std::string pidfile = dir->str() + "/bg";
    SpawnOptions o = shell("sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile);
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->success());
    pid_t bg = std::stoi(*read_file(pidfile));
    for (int i = 0; i < 100 && pid_alive(bg); ++i) {
        std::this_thread::sleep_for(20ms);
    }
    CHECK_FALSE(pid_alive(bg));
}

TEST_CASE("Child runs in its own process group and is killed when dropped") {
    pid_t pid;
    {
        SpawnOptions o = shell("exec sleep 30");
        o.stdout_mode = Output::null;
        o.stderr_mode = Output::null;
        auto child = Child::spawn(o);
        REQUIRE(child);
        pid = child->pid();
        CHECK(::getpgid(pid) == pid);
        auto still = child->wait_for(50ms);
        REQUIRE(still);
        CHECK_FALSE(*still);
    }
    CHECK_FALSE(pid_alive(pid));
}

TEST_CASE("Child::terminate sends TERM first") {
    SpawnOptions o = shell("trap 'exit 7' TERM; while :; do sleep 0.05; done");
    o.kill_grace = 2s;
    auto child = Child::spawn(o);
    REQUIRE(child);
    std::this_thread::sleep_for(100ms);
    auto status = child->terminate();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 7);
    CHECK_FALSE(child->running());
}

TEST_CASE("children start with default signal handling even when the parent blocks signals") {
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    SpawnOptions o = shell("grep SigBlk /proc/self/status");
    auto r = run(o);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    REQUIRE(r);
    CHECK(r->out.find("0000000000000000") != std::string::npos);
}

TEST_CASE("run stops the child when the stop descriptor becomes readable, as at a timeout") {
    auto dir = TempDir::create_in_tmp("unit-process");
    REQUIRE(dir);
    fs::path ready = dir->path() / "ready";
    auto pipe = make_pipe();
    REQUIRE(pipe);
    SpawnOptions o = shell(fmt::format(
        "trap 'echo got-term; exit 5' TERM; : > {}; while :; do sleep 0.05; done", ready.string()));
    o.stop_fd = pipe->read.get();
    o.kill_grace = 30s;
    // The stop request comes from another thread once the child has its trap, as a signal would.
    std::thread requester([&] {
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!fs::exists(ready) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
        }
        (void)write_all(pipe->write.get(), "x", "the stop pipe");
    });
    auto r = run(o);
    requester.join();
    REQUIRE(r);
    CHECK(r->stopped);
    CHECK_FALSE(r->timed_out);
    CHECK(r->exit_code() == 5);
    CHECK(r->out == "got-term\n");
    // run() never reads the stop descriptor: what it says is the caller's.
    char c = 0;
    CHECK(::read(pipe->read.get(), &c, 1) == 1);
}

TEST_CASE("a child's stdin can be a descriptor") {
    auto dir = TempDir::create_in_tmp("unit-process");
    REQUIRE(dir);
    std::string path = (dir->path() / "in").string();
    REQUIRE(atomic_write(path, "from a file\n", 0600));
    auto fd = open_fd(path, O_RDONLY);
    REQUIRE(fd);
    SpawnOptions o = shell("cat");
    o.stdin_fd = fd->get();
    auto r = run(o);
    REQUIRE(r);
    CHECK(r->out == "from a file\n");
}

TEST_CASE("SignalFd turns a signal into a readable event and restores the mask") {
    sigset_t before;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    {
        auto signals = SignalFd::create({SIGUSR1});
        REQUIRE(signals);
        CHECK(signals->take() == 0);
        ::kill(::getpid(), SIGUSR1);
        pollfd pfd{signals->fd(), POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, 5000) == 1);
        CHECK(signals->take() == SIGUSR1);
        CHECK(signals->take() == 0);
    }
    sigset_t after;
    pthread_sigmask(SIG_SETMASK, nullptr, &after);
    CHECK(sigismember(&after, SIGUSR1) == sigismember(&before, SIGUSR1));
}
