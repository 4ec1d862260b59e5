#include <catch2/catch.hpp>

#include "util/error.hpp"

using namespace backup::util;

TEST_CASE("exit codes follow the one table") {
    CHECK(static_cast<int>(ExitCode::ok) == 0);
    CHECK(static_cast<int>(ExitCode::findings) == 1);
    CHECK(static_cast<int>(ExitCode::permanent) == 100);
    CHECK(static_cast<int>(ExitCode::temporary) == 111);
    std::string help = exit_code_help();
    CHECK(help.find("100") != std::string::npos);
    CHECK(help.find("111") != std::string::npos);
}

TEST_CASE("fail builds 'unable to' messages with the given code") {
    Expected<int> r = fail(ExitCode::permanent, "read {}", "/etc/x");
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "unable to read /etc/x");
    CHECK(r.error().code() == ExitCode::permanent);

    auto e = fail_errno(ENOENT, "open /nope");
    CHECK(e.error().message() == "unable to open /nope: No such file or directory");
    CHECK(e.error().code() == ExitCode::temporary);
}

TEST_CASE("with_code and with_context keep the other parts") {
    Error e = Error::several(ExitCode::temporary, {"first", "second"});
    Error changed = e.with_code(ExitCode::permanent);
    CHECK(changed.code() == ExitCode::permanent);
    CHECK(changed.message() == "first");
    REQUIRE(changed.more().size() == 1);
    Error context = e.with_context("client web1");
    CHECK(context.message() == "client web1: first");
    CHECK(context.more().at(0) == "client web1: second");
}

TEST_CASE("value_or_throw unwraps or throws Fatal") {
    CHECK(value_or_throw(Expected<int>(3)) == 3);
    Expected<int> bad = fail(ExitCode::temporary, "x");
    try {
        value_or_throw(std::move(bad));
        FAIL("no exception");
    } catch (const Fatal& f) {
        CHECK(f.error().code() == ExitCode::temporary);
        CHECK(f.error().message() == "unable to x");
    }
}

TEST_CASE("worse ranks outcomes 111 > 100 > 1 > 0") {
    CHECK(worse(ExitCode::ok, ExitCode::findings) == ExitCode::findings);
    CHECK(worse(ExitCode::findings, ExitCode::permanent) == ExitCode::permanent);
    CHECK(worse(ExitCode::temporary, ExitCode::permanent) == ExitCode::temporary);
    CHECK(worse(ExitCode::ok, ExitCode::ok) == ExitCode::ok);
}
