// backup-syncd's bucket-event listener: the request parser fed in every split, the event
// classifier, the loopback-only address, and the listener on a real loopback socket.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include "syncd/event_listener.hpp"
#include "syncd/event_request.hpp"
#include "util/json.hpp"
#include "util/socket.hpp"

using namespace backup;
using namespace backup::core;
using namespace std::chrono_literals;
using State = EventRequest::State;

namespace {

std::string post(const std::string& body, const std::string& extra = "") {
    return fmt::format(
        "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "{}Content-Length: {}\r\n\r\n{}",
        extra, body.size(), body);
}

std::string event(std::initializer_list<std::string> keys) {
    util::Json records = util::Json::array();
    for (const auto& key : keys) {
        records.push_back({{"eventName", "s3:ObjectCreated:Put"},
                           {"s3", {{"bucket", {{"name", "bkt"}}}, {"object", {{"key", key}}}}}});
    }
    return util::Json{{"Records", records}}.dump();
}

// The request fed in pieces of `step` bytes.
EventRequest feed(const std::string& bytes, std::size_t step) {
    EventRequest r;
    for (std::size_t at = 0; at < bytes.size() && r.state() == State::reading; at += step) {
        r.add(std::string_view(bytes).substr(at, step));
    }
    return r;
}

} // namespace

TEST_CASE("an event request is whole in any split, and nothing past it is read") {
    std::string body = event({"web1/snapshots/" + std::string(64, 'a')});
    for (std::size_t step : {1, 2, 3, 7, 100, 100000}) {
        INFO("step " << step);
        auto r = feed(post(body) + "GARBAGE", step);
        CHECK(r.state() == State::complete);
        CHECK(r.status() == 200);
        CHECK(r.body() == body);
    }
    EventRequest partial;
    CHECK(partial.add("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab") == State::reading);
    CHECK(partial.add("cde") == State::complete);
    CHECK(partial.response() ==
          "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    // No Content-Length: an empty body.
    CHECK(feed("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 4).state() == State::complete);
}

TEST_CASE("an event request that is not a bounded POST is refused with its status") {
    auto status = [](const std::string& bytes) {
        auto r = feed(bytes, 5);
        CHECK(r.state() == State::rejected);
        return r.status();
    };
    CHECK(status("GET / HTTP/1.1\r\n\r\n") == 405);
    CHECK(status("garbage\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.1\r\nno colon\r\n\r\n") == 400);
    CHECK(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 411);
    CHECK(status(fmt::format("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                             k_max_event_body + 1)) == 413);
    CHECK(status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n") == 413);
    // A head that never ends is cut at its bound, however it arrives.
    CHECK(status("POST / HTTP/1.1\r\nX: " + std::string(k_max_event_head + 10, 'a')) == 431);
    auto refused = feed("GET / HTTP/1.1\r\n\r\n", 100);
    CHECK(refused.response().find("405 Method Not Allowed") != std::string::npos);
    CHECK(refused.response().find("Allow: POST") != std::string::npos);
    // At the bound exactly, a body is taken.
    CHECK(feed(post(std::string(k_max_event_body, 'x')), 4096).state() == State::complete);
}

TEST_CASE("an event request with Expect: 100-continue is told to continue once") {
    EventRequest r;
    r.add("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    CHECK(r.take_continue());
    CHECK_FALSE(r.take_continue());
    CHECK(r.add("{}") == State::complete);
    EventRequest with_body; // the body came along: nothing to ask for
    with_body.add("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}");
    CHECK_FALSE(with_body.take_continue());
}

TEST_CASE("an event concerns snapshots unless every record names another object") {
    std::string id(64, 'b');
    CHECK(event_may_concern_snapshots(event({"web1/snapshots/" + id})));
    CHECK(event_may_concern_snapshots(event({"snapshots/" + id})));
    CHECK(event_may_concern_snapshots(event({"web1/data/bb/" + id, "web1/snapshots/" + id})));
    CHECK(event_may_concern_snapshots(event({"web1%2Fsnapshots%2F" + id})));
    CHECK_FALSE(event_may_concern_snapshots(event({"web1/data/bb/" + id})));
    CHECK_FALSE(event_may_concern_snapshots(event({"web1/index/" + id, "web1/locks/" + id})));
    CHECK_FALSE(event_may_concern_snapshots(event({"web1/snapshots"}))); // not below it
    CHECK_FALSE(event_may_concern_snapshots(event({"web1/my+snapshots/x"})));
    // versitygw's test event at its start.
    CHECK_FALSE(event_may_concern_snapshots(
        R"({"Bucket":"Test-Bucket","Event":"s3:TestEvent","Service":"S3","Time":"x"})"));
    // What cannot be told is a listing.
    CHECK(event_may_concern_snapshots(""));
    CHECK(event_may_concern_snapshots("{not json"));
    CHECK(event_may_concern_snapshots("[1,2]"));
    CHECK(event_may_concern_snapshots(R"({"Records": []})"));
    CHECK(event_may_concern_snapshots(R"({"Records": {}})"));
    CHECK(event_may_concern_snapshots(R"({"Records": [{"s3": {"object": {}}}]})"));
    CHECK(event_may_concern_snapshots(R"({"Records": [{"s3": {"object": {"key": 7}}}]})"));
    CHECK(event_may_concern_snapshots(R"({"Records": [1]})"));
    std::string deep = R"({"Records": [{"s3": {"object": {"key": "web1/data/x"}}}], "x": )" +
                       std::string(1000, '[') + std::string(1000, ']') + "}";
    CHECK(event_may_concern_snapshots(deep));
    // Brackets inside strings are not nesting.
    CHECK_FALSE(event_may_concern_snapshots(event({"web1/data/" + std::string(100, '[')})));
}

TEST_CASE("an event listener address is a loopback address, else refused") {
    auto ok = [](const std::string& text) {
        auto a = parse_event_address(text);
        REQUIRE(a);
        return a->text();
    };
    CHECK(ok("127.0.0.1:8400") == "127.0.0.1:8400");
    CHECK(ok("127.9.8.7:1") == "127.9.8.7:1");
    CHECK(ok("[::1]:65535") == "[::1]:65535");
    for (const char* bad : {"0.0.0.0:8400", "10.1.2.3:8400", "localhost:8400", ":8400", "[::]:8400",
                            "[::ffff:127.0.0.1]:8400", "::1:8400", "127.0.0.1", "127.0.0.1:0",
                            "127.0.0.1:65536", "127.0.0.1:80x", "[::1]8400"}) {
        INFO(bad);
        auto a = parse_event_address(bad);
        REQUIRE_FALSE(a);
        CHECK(a.error().code() == util::ExitCode::permanent);
        CHECK(a.error().message().find("--event-listen") != std::string::npos);
    }
    CHECK(parse_event_address("192.168.1.1:80").error().message().find("not a loopback") !=
          std::string::npos);
}

namespace {

// Waits (on the listener's descriptors, as the daemon does) until received has `events`.
EventListener::Received serve_until(EventListener& l, std::size_t events, std::size_t rejected) {
    EventListener::Received total;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((total.events < events || total.rejected < rejected) &&
           std::chrono::steady_clock::now() < deadline) {
        std::vector<pollfd> fds;
        l.add_poll_fds(fds);
        ::poll(fds.data(), fds.size(), 100);
        auto r = l.service();
        total.events += r.events;
        total.concerning += r.concerning;
        total.rejected += r.rejected;
    }
    return total;
}

std::string answer_of(int fd) {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}

} // namespace

TEST_CASE("the event listener answers events while a silent client and an oversize body wait") {
    auto listener = EventListener::open({"127.0.0.1", 0}, 1s);
    REQUIRE(listener);
    int port = listener->port();
    // A client that connects and sends nothing, and one that sends half a request.
    auto silent = util::connect_tcp("127.0.0.1", port, 5s);
    auto half = util::connect_tcp("127.0.0.1", port, 5s);
    REQUIRE(silent);
    REQUIRE(half);
    REQUIRE(util::write_all(half->get(), "POST / HTTP/1.1\r\nContent-Le", "send"));
    // An oversize body is refused, an event about data/ and one about snapshots/ answered.
    auto big = util::connect_tcp("127.0.0.1", port, 5s);
    REQUIRE(big);
    REQUIRE(util::write_all(
        big->get(),
        fmt::format("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", k_max_event_body + 1),
        "send"));
    auto data = util::connect_tcp("127.0.0.1", port, 5s);
    auto snap = util::connect_tcp("127.0.0.1", port, 5s);
    REQUIRE(data);
    REQUIRE(snap);
    REQUIRE(util::write_all(data->get(), post(event({"web1/data/aa/x"})), "send"));
    REQUIRE(util::write_all(snap->get(), post(event({"web1/snapshots/x"})), "send"));
    auto r = serve_until(*listener, 2, 1);
    CHECK(r.events == 2);
    CHECK(r.concerning == 1);
    CHECK(r.rejected == 1);
    CHECK(answer_of(data->get()).starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(answer_of(big->get()).starts_with("HTTP/1.1 413 "));
    CHECK(listener->open_connections() == 2); // the silent two, until their deadline
    REQUIRE(listener->next_deadline());
    r = serve_until(*listener, 0, 2);
    CHECK(r.rejected == 2);
    CHECK(listener->open_connections() == 0);
    CHECK(answer_of(silent->get()).empty()); // dropped, unanswered
}

TEST_CASE("the event listener holds at most its number of connections, the rest wait") {
    auto listener = EventListener::open({"127.0.0.1", 0}, 1s, 2);
    REQUIRE(listener);
    std::vector<util::Fd> clients;
    for (int i = 0; i < 3; ++i) {
        auto c = util::connect_tcp("127.0.0.1", listener->port(), 5s);
        REQUIRE(c);
        clients.push_back(std::move(*c));
    }
    REQUIRE(util::write_all(clients[2].get(), post("{}"), "send"));
    // The third waits in the backlog until the two silent ones are dropped, then is answered.
    auto r = serve_until(*listener, 1, 2);
    CHECK(r.rejected == 2);
    CHECK(r.events == 1);
    CHECK(r.concerning == 1);
    CHECK(answer_of(clients[2].get()).starts_with("HTTP/1.1 200 OK"));
}

TEST_CASE("the event listener listens on ::1 too") {
    auto listener = EventListener::open({"::1", 0});
    if (!listener) {
        WARN("no IPv6 loopback here: " << listener.error().message());
        return;
    }
    auto c = util::connect_tcp("::1", listener->port(), 5s);
    REQUIRE(c);
    REQUIRE(util::write_all(c->get(), post("{}"), "send"));
    CHECK(serve_until(*listener, 1, 0).events == 1);
}
