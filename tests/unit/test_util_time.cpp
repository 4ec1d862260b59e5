#include "util/time.hpp"

#include <catch2/catch.hpp>

using namespace backup::util;

TEST_CASE("time: one format, UTC with milliseconds, fixed width") {
    using std::chrono::milliseconds;
    CHECK(format_time(SystemTime()) == "1970-01-01T00:00:00.000Z");
    CHECK(format_time(SystemTime(milliseconds(1'700'000'000'250))) == "2023-11-14T22:13:20.250Z");
    CHECK(format_time(SystemTime(milliseconds(-1))) == "1969-12-31T23:59:59.999Z");
    CHECK(format_time(std::int64_t{1714532400}) == "2024-05-01T03:00:00.000Z");
    CHECK(format_compact_time(0) == "19700101T000000Z");
    CHECK(format_compact_time(1714532400) == "20240501T030000Z");
}

TEST_CASE("time: read back strictly, with or without a fraction") {
    CHECK(parse_unix_time("2024-05-01T03:00:00.000Z") == 1714532400);
    CHECK(parse_unix_time("2024-05-01T03:00:00Z") == 1714532400); // as earlier versions wrote
    CHECK(parse_unix_time("2024-05-01T03:00:00.999999Z") == 1714532400);
    CHECK(parse_unix_time("1970-01-01T00:00:00.000Z") == 0);
    CHECK(parse_unix_time("2199-12-31T23:59:59Z") == 7258118399);
    auto t = parse_time("2023-11-14T22:13:20.250Z");
    REQUIRE(t);
    CHECK(format_time(*t) == "2023-11-14T22:13:20.250Z");
    for (const char* bad :
         {"2024-05-01T03:00:00", "2024-05-01 03:00:00Z", "2024-13-01T03:00:00Z",
          "2024-02-30T03:00:00Z", "2024-05-01T03:00:00Z ", "2024-05-01T03:00:00.Z",
          "2024-5-01T03:00:00Z", "", "yesterday", "2024-05-01T03:00:60Z",
          // Beyond what SystemTime holds (a signed overflow the fuzzer found), and before 1970.
          "2826-12-01T03:31:00.000Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z"}) {
        INFO(bad);
        CHECK_FALSE(parse_time(bad));
    }
}
