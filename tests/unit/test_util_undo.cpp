#include "util/undo.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace backup::util;

TEST_CASE("undo: steps are taken back newest first, unless committed") {
    std::string log;
    {
        UndoStack undo;
        undo.push([&] { log += "a"; });
        undo.push([&] { log += "b"; });
    }
    CHECK(log == "ba");
    log.clear();
    {
        UndoStack undo;
        undo.push([&] { log += "a"; });
        undo.commit();
    }
    CHECK(log.empty());
}
