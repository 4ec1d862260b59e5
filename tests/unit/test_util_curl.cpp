// libcurl's POST against a receiver on loopback: what arrives, what comes back, what is refused,
// and TLS verified against a private CA.
#include "util/curl.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/http_receiver.hpp"
#include "util/fs.hpp"
#include "util/socket.hpp"
#include "util/tls.hpp"

using namespace backup;
using namespace std::chrono_literals;
using backup::test::HttpReceiver;

namespace {

struct Pki {
    std::string ca;
    HttpReceiver::Tls server;
};

Pki make_pki(const std::vector<std::string>& names) {
    auto ca_key = util::generate_private_key();
    REQUIRE(ca_key);
    auto ca = util::make_ca_certificate(*ca_key, "test CA", 24h);
    REQUIRE(ca);
    auto key = util::generate_private_key();
    REQUIRE(key);
    auto cert = util::issue_certificate(*ca, *ca_key, *key, names, 24h);
    REQUIRE(cert);
    return {*ca, {*cert, *key}};
}

} // namespace

TEST_CASE("curl: a POST arrives with its headers and body, the answer's status comes back") {
    HttpReceiver receiver;
    util::CurlPost post;
    post.url = receiver.url("/hook?x=1");
    post.headers = {"Content-Type: application/json", "Title: backups"};
    post.body = R"({"a": 1})" + std::string(5000, ' ');
    auto reply = util::curl_post(post);
    REQUIRE(reply);
    CHECK(reply->status == 200);
    CHECK(reply->body == "ok\n");
    REQUIRE(receiver.count() == 1);
    auto got = receiver.requests()[0];
    CHECK(got.method == "POST");
    CHECK(got.target == "/hook?x=1");
    CHECK(got.header("content-type") == "application/json");
    CHECK(got.header("title") == "backups");
    CHECK(got.header("user-agent").starts_with("restic-backup-toolkit/"));
    CHECK(got.header("expect").empty());
    CHECK(got.body == post.body);

    receiver.answer(500);
    reply = util::curl_post(post);
    REQUIRE(reply);
    CHECK(reply->status == 500);

    post.headers = {"Title: x\r\nX-Injected: 1"};
    auto refused = util::curl_post(post);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == util::ExitCode::permanent);
    CHECK(receiver.count() == 2);

    receiver.stop();
    post.headers = {};
    auto down = util::curl_post(post);
    REQUIRE_FALSE(down);
    CHECK(down.error().code() == util::ExitCode::temporary);
    CHECK(down.error().message().starts_with("unable to POST to 127.0.0.1: "));
    CHECK(down.error().message().find("/hook") == std::string::npos);
    CHECK(util::url_host("https://ntfy.example.com:8443/a/b?c") == "ntfy.example.com");
    CHECK(util::url_host("not a url").empty());
}

TEST_CASE("curl: https is verified, against a CA file when one is given") {
    auto pki = make_pki({"127.0.0.1"});
    auto dir = util::TempDir::create_in_tmp("unit-curl");
    REQUIRE(dir);
    std::string ca_file = dir->str() + "/ca.pem";
    REQUIRE(util::atomic_write(ca_file, pki.ca, 0644));
    HttpReceiver receiver(pki.server);
    util::CurlPost post;
    post.url = receiver.url("/secure");
    post.body = "hello";
    post.timeout = 10s;

    // The system's CAs do not know this one.
    auto untrusted = util::curl_post(post);
    REQUIRE_FALSE(untrusted);
    CHECK(untrusted.error().code() == util::ExitCode::temporary);
    CHECK(receiver.count() == 0);

    post.ca_file = ca_file;
    auto reply = util::curl_post(post);
    INFO((reply ? std::string() : reply.error().message()));
    REQUIRE(reply);
    CHECK(reply->status == 200);
    REQUIRE(receiver.count() == 1);
    CHECK(receiver.requests()[0].body == "hello");

    // The right CA, the wrong name: refused too.
    auto other = make_pki({"backup.example.com"});
    HttpReceiver misnamed(other.server);
    REQUIRE(util::atomic_write(ca_file, other.ca, 0644));
    post.url = misnamed.url("/secure");
    CHECK_FALSE(util::curl_post(post));
    CHECK(misnamed.count() == 0);
}

TEST_CASE("curl: a server that never answers is given up at the timeout") {
    // Listening, never accepting: the connection completes in the backlog, no answer comes.
    auto sock = util::listen_tcp("127.0.0.1", 0);
    REQUIRE(sock);
    auto port = util::local_port(sock->get());
    REQUIRE(port);
    util::CurlPost post;
    post.url = fmt::format("http://127.0.0.1:{}/hook", *port);
    post.body = "hello";
    post.timeout = 500ms;
    auto start = std::chrono::steady_clock::now();
    auto reply = util::curl_post(post);
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code() == util::ExitCode::temporary);
    CHECK(reply.error().message().starts_with("unable to POST to 127.0.0.1: "));
    CHECK(std::chrono::steady_clock::now() - start < 10s);
}
