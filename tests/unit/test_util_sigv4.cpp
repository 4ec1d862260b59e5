// AWS Signature Version 4 against AWS's published examples.
#include "util/sha256.hpp"
#include "util/sigv4.hpp"
#include "util/time.hpp"

#include <catch2/catch.hpp>

using namespace backup::util;

TEST_CASE("sigv4: the get-vanilla example of AWS's test suite", "[sigv4]") {
    SigV4Request r;
    r.method = "GET";
    r.path = "/";
    r.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
    r.payload_sha256 = sha256_hex("");
    SigV4Credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1",
                       "service"};
    CHECK(sigv4_authorization(r, c, "20150830T123600Z") ==
          "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("sigv4: the S3 GET object example of the S3 documentation", "[sigv4]") {
    SigV4Request r;
    r.method = "GET";
    r.path = "/test.txt";
    r.payload_sha256 = sha256_hex("");
    r.headers = {{"host", "examplebucket.s3.amazonaws.com"},
                 {"range", "bytes=0-9"},
                 {"x-amz-content-sha256", r.payload_sha256},
                 {"x-amz-date", "20130524T000000Z"}};
    SigV4Credentials c{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       "us-east-1", "s3"};
    CHECK(sigv4_authorization(r, c, "20130524T000000Z") ==
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
          "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
          "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("sigv4: the signature changes with every signed part", "[sigv4]") {
    SigV4Request r;
    r.method = "PATCH";
    r.path = "/update-user";
    r.query = {{"access", "ABC"}};
    r.payload_sha256 = sha256_hex("<x/>");
    r.headers = {{"host", "127.0.0.1:9000"}, {"x-amz-date", "20240101T000000Z"}};
    SigV4Credentials c{"ROOT", "secret"};
    auto base = sigv4_authorization(r, c, "20240101T000000Z");
    auto other = r;
    other.query["access"] = "ABD";
    CHECK(sigv4_authorization(other, c, "20240101T000000Z") != base);
    other = r;
    other.payload_sha256 = sha256_hex("<y/>");
    CHECK(sigv4_authorization(other, c, "20240101T000000Z") != base);
    auto other_key = c;
    other_key.secret_key = "secreu";
    CHECK(sigv4_authorization(r, other_key, "20240101T000000Z") != base);
}

TEST_CASE("sigv4: URI encoding and the canonical query", "[sigv4]") {
    CHECK(sigv4_uri_encode("aZ09-_.~") == "aZ09-_.~");
    CHECK(sigv4_uri_encode("a b/c+=") == "a%20b%2Fc%2B%3D");
    CHECK(sigv4_canonical_query({{"b", "2"}, {"a", "1 x"}, {"lifecycle", ""}}) ==
          "a=1%20x&b=2&lifecycle=");
    CHECK(sigv4_canonical_query({}) == "");
    CHECK(format_compact_time(0) == "19700101T000000Z");
}
