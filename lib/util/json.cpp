#include "util/json.hpp"

#include "util/fs.hpp"

namespace backup::util {

Json string_or_null(const std::optional<std::string>& value) {
    return value ? Json(*value) : Json(nullptr);
}

Expected<Json> read_json_file(const std::string& path) {
    std::string text = TRY(read_file(path));
    try {
        return Json::parse(text);
    } catch (const Json::exception& e) {
        return fail(ExitCode::permanent, "parse {}: {}", path, e.what());
    }
}

Expected<void> write_json_file(const std::string& path, const Json& value, unsigned mode) {
    // Invalid UTF-8 in a name must not make a status file unwritable: replace, don't throw.
    std::string text = value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
    return atomic_write(path, text, mode);
}

} // namespace backup::util
