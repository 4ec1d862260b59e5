// restic's exclude patterns as restic-unroll writes and checks them. restic is written in Go: its
// '?' matches one rune as utf8.DecodeRuneInString sees it, and its line trimming decodes the last
// rune as utf8.DecodeLastRuneInString does; both treat any byte that does not start a valid,
// shortest-form, non-surrogate sequence as a rune of length 1 (util::decode_rune). Hand-written,
// since it must match restic byte for byte.
#pragma once

#include <string_view>
#include <vector>

#include "unroll/unroll.hpp"

namespace backup::core {

// One component of a pattern: literal bytes, or a wildcard standing for exactly one rune.
struct Token {
    bool wildcard = false;
    char byte = 0;
};
using ComponentPattern = std::vector<Token>;

// A pattern written by escape_path(), split back into components.
std::vector<ComponentPattern> parse_pattern(std::string_view pattern);
// Whether the first count components of pattern match the first count of path.
bool leading_components_match(const std::vector<ComponentPattern>& pattern,
                              const std::vector<std::string_view>& path, std::size_t count);
// Escapes path; line_end says whether the path ends the line (so its trailing white space would
// be trimmed by restic).
ExcludePattern escape_path(std::string_view path, bool line_end);

} // namespace backup::core
