#include "status/capacity.hpp"

#include <catch2/catch.hpp>

#include "support/unit_helpers.hpp"

using namespace backup::core;

namespace {
using backup::test::k_day;
constexpr std::int64_t k_today = 20'000; // days since the epoch
constexpr std::uint64_t k_gib = 1ULL << 30;
} // namespace

TEST_CASE("capacity: one sample a day, the last of the day wins, old ones go") {
    CapacitySeries series;
    add_sample(series, k_today - 100, 1);
    add_sample(series, k_today - 1, 5);
    add_sample(series, k_today, 7);
    add_sample(series, k_today, 9);
    REQUIRE(series.size() == 2); // the one of 100 days ago is past k_capacity_days_kept
    CHECK(series[0].day == k_today - 1);
    CHECK(series[1].bytes == 9);
}

TEST_CASE("capacity: growth per day is the slope over the last 30 days") {
    CapacitySeries series;
    CHECK_FALSE(growth_per_day(series, k_today));
    add_sample(series, k_today, 100);
    CHECK_FALSE(growth_per_day(series, k_today)); // one day says nothing
    series.clear();
    for (std::int64_t d = 40; d >= 0; --d) {
        // 10 bytes a day within the window; a jump before it does not count.
        add_sample(series, k_today - d,
                   d > 30 ? 0 : 1000 + 10 * static_cast<std::uint64_t>(30 - d));
    }
    auto growth = growth_per_day(series, k_today);
    REQUIRE(growth);
    CHECK(*growth == Approx(10.0));
}

TEST_CASE("capacity: a filesystem that fills within the warning is a problem, with its date") {
    ServerStatus status;
    status.now = k_today * k_day + 3600;
    FilesystemInfo f;
    f.path = "/backups";
    f.size_bytes = 100 * k_gib;
    f.free_bytes = 10 * k_gib;
    f.used_bytes = 90 * k_gib;
    status.filesystems = {f};
    CapacityHistory history;
    // 1 GiB a day for the last 10 days: 10 GiB free fills in 10 days.
    for (std::int64_t d = 10; d >= 1; --d) {
        add_sample(history.filesystems["/backups"], k_today - d,
                   90 * k_gib - static_cast<std::uint64_t>(d) * k_gib);
    }
    history.filesystems["/gone"] = {{k_today - 1, 1}};
    auto warned = status;
    apply_capacity(warned, history, std::chrono::seconds(14 * k_day));
    const auto& fs = warned.filesystems[0];
    REQUIRE(fs.growth_bytes_per_day);
    CHECK(*fs.growth_bytes_per_day == Approx(static_cast<double>(k_gib)));
    REQUIRE(fs.full_by);
    CHECK(*fs.full_by == status.now + 10 * k_day);
    REQUIRE(fs.problems.size() == 1);
    CHECK(fs.problems[0].kind == ProblemKind::disk_filling);
    CHECK(fs.problems[0].message.find("full by") != std::string::npos);
    CHECK_FALSE(warned.healthy());
    CHECK_FALSE(history.filesystems.contains("/gone")); // rows that are gone lose their samples
    CHECK(history.filesystems["/backups"].back().day == k_today);

    auto calm = status;
    apply_capacity(calm, history, std::chrono::seconds(7 * k_day));
    CHECK(calm.filesystems[0].problems.empty());
    CHECK(calm.healthy());
}

TEST_CASE("capacity: a full filesystem is a problem without any history") {
    ServerStatus status;
    status.now = k_today * k_day;
    FilesystemInfo f;
    f.path = "/backups";
    f.size_bytes = k_gib;
    f.free_bytes = 0;
    f.used_bytes = k_gib;
    status.filesystems = {f};
    CapacityHistory history;
    apply_capacity(status, history, std::chrono::seconds(14 * k_day));
    REQUIRE(status.filesystems[0].problems.size() == 1);
    CHECK(status.filesystems[0].problems[0].message == "/backups is full");
}
