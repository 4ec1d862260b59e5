// The runit service and systemd templates (runit-templates/, compiled in) and their rendering.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace backup::core {

// Every template by its path under runit-templates/ ("client/run", "systemd/...").
const std::map<std::string_view, std::string_view>& builtin_templates();

// Kinds of placeholder values, checked before they are put into a shell script.
enum class ValueKind {
    word,  // one shell word: letters, digits and / . _ : , = + @ -
    words, // several words separated by single spaces, same characters
};

struct TemplateValue {
    std::string value;
    ValueKind kind = ValueKind::word;
};

// Whether word can go into a run script unquoted: letters, digits and / . _ : , = + @ -.
bool is_script_safe(std::string_view word);

// Replaces every @NAME@ in text with values[NAME]. A placeholder without a value, a value
// that is not safe for its kind (quotes, $, spaces in a word...), or a template name that does
// not exist is an error (100) naming it.
util::Expected<std::string> render_template(std::string_view name,
                                            const std::map<std::string, TemplateValue>& values);

} // namespace backup::core
