// Tree paths as restic-unroll handles them: absolute, normalised, "/" for the top.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace backup::core {

// The components of path, without empty ones.
std::vector<std::string_view> split_components(std::string_view path);
// dir + "/" + name ("/" + name at the top).
std::string child_of(const std::string& dir, std::string_view name);
// The directory above path; "/" for "/" and its children.
std::string parent_of(const std::string& path);

} // namespace backup::core
