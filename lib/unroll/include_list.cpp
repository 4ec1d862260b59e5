#include "unroll/unroll.hpp"

#include <set>

#include "unroll/tree_path.hpp"
#include "util/text.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

Expected<std::vector<std::string>> parse_include_list(std::string_view text,
                                                      std::string_view source_name) {
    std::vector<std::string> problems;
    std::set<std::string> paths;
    std::size_t line_number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_number;
        std::size_t first = line.find_first_not_of(" \t\r\v\f");
        if (first == std::string_view::npos || line[first] == '#') {
            continue;
        }
        auto problem = [&](std::string_view what) {
            problems.push_back(fmt::format("unable to use line {} of include list {}: {} {}",
                                           line_number, source_name, util::quote_path(line), what));
        };
        if (line.find('\0') != std::string_view::npos) {
            problem("holds a NUL byte");
            continue;
        }
        if (line.front() != '/') {
            problem("is not an absolute path");
            continue;
        }
        std::string normal;
        bool parent = false;
        for (auto part : split_components(line)) {
            if (part == "..") {
                parent = true;
            } else if (part != ".") {
                normal += '/';
                normal += part;
            }
        }
        if (parent) {
            problem("has a '..' component");
            continue;
        }
        paths.insert(normal.empty() ? std::string("/") : normal);
    }
    if (problems.empty() && paths.empty()) {
        problems.push_back(fmt::format(
            "unable to use include list {}: it names no path (only blank lines and comments)",
            source_name));
    }
    if (!problems.empty()) {
        return std::unexpected(util::Error::several(ExitCode::permanent, std::move(problems)));
    }
    return std::vector<std::string>(paths.begin(), paths.end());
}

} // namespace backup::core
