// What every state and status file reader shares: reading the file, checking its schema number,
// and reading its keys strictly, with every problem reported at once.
//
// A state or status file is a JSON object with an integer "schema"; a reader reads exactly the
// schema it was written for. A missing file is not an error (nullopt): whether that is normal is
// the caller's to say. Everything else that is wrong is an error naming the file: unreadable
// (111), not JSON, another schema or a key missing or of the wrong type (100).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"
#include "util/json.hpp"

namespace backup::core {

// The JSON object of the file at path when its "schema" is schema; nullopt when there is no file.
util::Expected<std::optional<util::Json>> read_state_json(const std::string& path, int schema);

// The record in the file at path, read by from_json(json, path) when its "schema" is schema;
// nullopt when there is no file.
template <typename T, typename FromJson>
util::Expected<std::optional<T>> read_state_file(const std::string& path, int schema,
                                                 FromJson from_json) {
    auto json = TRY(read_state_json(path, schema));
    if (!json) {
        return std::optional<T>();
    }
    return std::optional<T>(TRY(from_json(*json, path)));
}

// Reads the keys of one state file's JSON, collecting problems ("read FILE: key 'a.b': what").
// Accessors return a neutral value (empty, 0, nullopt) for a missing or mistyped key, after
// recording the problem; result() says whether any was found.
class JsonFields {
public:
    explicit JsonFields(std::string file) : m_file(std::move(file)) {}

    // The member key of object (context names object in messages: "", "rotation", ...).
    const util::Json* get(const util::Json& object, std::string_view key, std::string_view context);
    std::string string(const util::Json& object, std::string_view key, std::string_view context);
    std::optional<std::string> optional_string(const util::Json& object, std::string_view key,
                                               std::string_view context);
    // A time in the toolkit's format (util::parse_time); kept as the text.
    std::string time(const util::Json& object, std::string_view key, std::string_view context);
    std::optional<std::string> optional_time(const util::Json& object, std::string_view key,
                                             std::string_view context);
    std::int64_t integer(const util::Json& object, std::string_view key, std::string_view context,
                         std::int64_t min, std::int64_t max);
    double number(const util::Json& object, std::string_view key, std::string_view context);
    bool boolean(const util::Json& object, std::string_view key, std::string_view context);
    std::vector<std::string> string_list(const util::Json& object, std::string_view key,
                                         std::string_view context);
    // An array (possibly empty) of the member key; nullptr after recording a problem.
    const util::Json* array(const util::Json& object, std::string_view key,
                            std::string_view context);
    // An object, or nullptr: when null_ok, null is not a problem.
    const util::Json* object(const util::Json& object, std::string_view key,
                             std::string_view context, bool null_ok = false);

    // Whether json is an object whose "schema" is schema; records the problem when not.
    bool schema(const util::Json& json, int schema);

    void problem(std::string_view key, std::string_view what);
    // Success when no problem was recorded, else one Error (100) holding every one.
    util::Expected<void> result() const;
    const std::string& file() const { return m_file; }

private:
    std::string m_file;
    std::vector<std::string> m_problems;
};

// "context.key", or key alone at the top level.
std::string join_key(std::string_view context, std::string_view key);

} // namespace backup::core
