#include "util/prometheus.hpp"

#include <catch2/catch.hpp>

using namespace backup::util;

TEST_CASE("prometheus: families with their samples, label values escaped") {
    PrometheusText out;
    out.family("x_up", "gauge", "1 when up.");
    out.sample("x_up", {{"client", "web1"}}, std::int64_t{1});
    out.sample("x_up", {{"client", "we\"b\\2\n"}, {"service", "s"}}, std::int64_t{0});
    out.family("x_seconds", "gauge", "A duration.");
    out.sample("x_seconds", {}, 1.5);
    CHECK(out.text() == "# HELP x_up 1 when up.\n"
                        "# TYPE x_up gauge\n"
                        "x_up{client=\"web1\"} 1\n"
                        "x_up{client=\"we\\\"b\\\\2\\n\",service=\"s\"} 0\n"
                        "# HELP x_seconds A duration.\n"
                        "# TYPE x_seconds gauge\n"
                        "x_seconds 1.5\n");
}
