#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

#include "model/environ.hpp"

using namespace backup::core;

namespace {

using backup::test::all_messages;

} // namespace

TEST_CASE("environ files: export, quotes, comments") {
    auto r = parse_environ("# comment\n"
                           "\n"
                           "export RESTIC_REPOSITORY=s3:http://backup:8101/web1\n"
                           "AWS_ACCESS_KEY_ID='AK$EY with space'\n"
                           "  export  SECRET=\"a \\\"quoted\\\" \\$ value\"  # trailing comment\n"
                           "MIXED=a'b c'\"d\"\\ e\n"
                           "EMPTY=\n",
                           "environ");
    REQUIRE(r);
    REQUIRE(r->size() == 5);
    CHECK((*r)[0].name == "RESTIC_REPOSITORY");
    CHECK((*r)[0].value == "s3:http://backup:8101/web1");
    CHECK((*r)[0].line == 3);
    CHECK((*r)[1].value == "AK$EY with space");
    CHECK((*r)[2].name == "SECRET");
    CHECK((*r)[2].value == "a \"quoted\" $ value");
    CHECK((*r)[3].value == "ab cd e");
    CHECK((*r)[4].value.empty());
}

TEST_CASE("environ files: anything a shell would run or expand is refused with its line") {
    auto r = parse_environ("OK=1\n"
                           "A=$(rm -rf /)\n"
                           "B=`id`\n"
                           "C=$HOME/x\n"
                           "D=\"${HOME}\"\n"
                           "E=a; rm x\n"
                           "F=two words\n"
                           "G='unterminated\n"
                           "not an assignment\n"
                           "H=~/x\n"
                           "I={a,b}\n"
                           "J=*\n"
                           "K=a?c\n"
                           "L=[ab]\n"
                           "M=/bin:~/bin\n"
                           "N=windows\r\n"
                           "O='quoted'\r\n" +
                               std::string("P=a\0b\n", 6),
                           "/etc/restic/environ");
    REQUIRE_FALSE(r);
    std::string text = all_messages(r.error());
    INFO(text);
    CHECK(text.find("brace expansion") != std::string::npos);
    CHECK(text.find("carriage return") != std::string::npos);
    CHECK(text.find("NUL") != std::string::npos);
    for (int line = 2; line <= 18; ++line) {
        INFO("line " << line);
        CHECK(text.find(fmt::format("/etc/restic/environ:{}:", line)) != std::string::npos);
    }
    CHECK(text.find("environ:1:") == std::string::npos);
    CHECK(r.error().code() == backup::util::ExitCode::permanent);
}

TEST_CASE("environ files: what a shell takes literally stays accepted") {
    auto r = parse_environ("A='{a,b}'\nB=\"*\"\nC=a}b\nD=x~y\nE='/bin:~/bin'\nF=a=b\n", "environ");
    INFO((r ? std::string() : all_messages(r.error())));
    REQUIRE(r);
    CHECK((*r)[0].value == "{a,b}");
    CHECK((*r)[1].value == "*");
    CHECK((*r)[2].value == "a}b");
    CHECK((*r)[3].value == "x~y");
    CHECK((*r)[4].value == "/bin:~/bin");
    CHECK((*r)[5].value == "a=b");
}
