// JSON state and status files: read strictly, written atomically.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "util/error.hpp"

namespace backup::util {

using Json = nlohmann::json;

// The string, or null when there is none: how state and status files write an optional text.
Json string_or_null(const std::optional<std::string>& value);

// Parses the JSON file at path; a parse error names the file (code 100).
Expected<Json> read_json_file(const std::string& path);

// Writes value (pretty-printed, newline-terminated) to path with atomic_write.
Expected<void> write_json_file(const std::string& path, const Json& value, unsigned mode = 0644);

} // namespace backup::util
