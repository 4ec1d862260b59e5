#include "support/unit_helpers.hpp"

#include <catch2/catch.hpp>

namespace backup::test {

std::string all_messages(const util::Error& e) {
    std::string out = e.message();
    for (const auto& m : e.more()) {
        out += "\n" + m;
    }
    return out;
}

util::TempDir temp_dir(std::string_view name) {
    auto dir = util::TempDir::create_in_tmp(name);
    REQUIRE(dir);
    return std::move(*dir);
}

} // namespace backup::test
