#include "util/text.hpp"

#include <catch2/catch.hpp>

using namespace backup::util;
using std::chrono::seconds;

TEST_CASE("text: durations as people write them") {
    CHECK(parse_duration("90") == seconds(90));
    CHECK(parse_duration("30s") == seconds(30));
    CHECK(parse_duration("5m") == seconds(300));
    CHECK(parse_duration("1h30m") == seconds(5400));
    CHECK(parse_duration("2d") == seconds(172800));
    CHECK(parse_duration("0") == seconds(0));
    for (const char* bad : {"", "5x", "m", "1h30", "-5m", "99999999999999999999", "1.5h", " 5m"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad));
    }
    CHECK(parse_duration("36600d") == seconds(36600LL * 86400));
    CHECK_FALSE(parse_duration("36601d")); // above 100 years
}

TEST_CASE("text: durations for a table cell") {
    CHECK(format_duration(seconds(45)) == "45s");
    CHECK(format_duration(seconds(119)) == "119s");
    CHECK(format_duration(seconds(120)) == "2m");
    CHECK(format_duration(seconds(7199)) == "119m");
    CHECK(format_duration(seconds(7200)) == "2h");
    CHECK(format_duration(seconds(3 * 86400)) == "3d");
    CHECK(format_duration(seconds(-5)) == "0s");
}

TEST_CASE("text: sizes") {
    CHECK(parse_size("500") == 500u);
    CHECK(parse_size("500M") == 500ull << 20);
    CHECK(parse_size("2g") == 2ull << 30);
    CHECK(parse_size("1T") == 1ull << 40);
    for (const char* bad : {"", "0", "M", "5X", "5MB", "-1", "99999999999999999999", "20000000T"}) {
        INFO(bad);
        CHECK_FALSE(parse_size(bad));
    }
    CHECK(format_size(512) == "512B");
    CHECK(format_size(1536) == "1.5KiB");
    CHECK(format_size(20ull << 20) == "20.0MiB");
}

TEST_CASE("text: UTF-8 is checked and made valid") {
    CHECK(is_valid_utf8("caf\xc3\xa9"));
    CHECK_FALSE(is_valid_utf8("\\\xc3"));       // cut short
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80")); // a surrogate
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));     // overlong
    CHECK(to_valid_utf8("a\xffz") == "a\xef\xbf\xbdz");
    CHECK(to_valid_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
    CHECK(is_valid_utf8(to_valid_utf8("\xc3\x28\xa0\xa1\xe2\x28\xa1")));
}

TEST_CASE("text: a table cell's width counts characters, not bytes") {
    CHECK(utf8_length("") == 0);
    CHECK(utf8_length("web1") == 4);
    CHECK(utf8_length("Zürich") == 6);
    CHECK(utf8_length("\xff\xfe") == 2); // each invalid byte is one (a replacement character)
}

TEST_CASE("text: one line for a message that leaves the machine, cut at a character") {
    CHECK(one_line("a\r\nb\tc\x1b[0m\x7f") == "a  b c [0m ");
    CHECK(one_line("caf\xc3\xa9 \xc2\x85next \xff") == "caf\xc3\xa9  next \xef\xbf\xbd");
    CHECK(truncate_utf8("short", 10) == "short");
    CHECK(truncate_utf8("0123456789", 8) == "01234...");
    // Never inside a character: "é" is two bytes.
    CHECK(truncate_utf8("ab\xc3\xa9\xc3\xa9\xc3\xa9", 6) == "ab...");
    CHECK(truncate_utf8("ab\xc3\xa9\xc3\xa9\xc3\xa9", 7) == "ab\xc3\xa9...");
    CHECK(truncate_utf8("ab\xc3\xa9\xc3\xa9\xc3\xa9", 8) == "ab\xc3\xa9\xc3\xa9\xc3\xa9");
}
