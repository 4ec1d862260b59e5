// The client's /etc/restic/environ, parsed, never run by a shell.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace backup::core {

struct EnvAssignment {
    std::string name;
    std::string value;
    int line = 0;
};

// Parses environ text: blank lines, '#' comments, and lines `NAME=value` or
// `export NAME=value`. A value is a sequence of unquoted characters (backslash escapes the next
// one), single-quoted text (literal), and double-quoted text (where \" \\ \$ \` escape). Whatever
// a shell would expand or execute - `$` outside single quotes ($VAR, $(...), ${...}), backquotes,
// ; & | < > ( ), a leading ~, a second word - is an error naming the line, so nothing in the
// file is ever executed. All bad lines are reported together (100); file names them.
util::Expected<std::vector<EnvAssignment>> parse_environ(std::string_view text,
                                                         std::string_view file);

} // namespace backup::core
