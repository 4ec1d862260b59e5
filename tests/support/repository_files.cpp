#include "support/repository_files.hpp"

#include <algorithm>
#include <crypt.h>
#include <filesystem>
#include <memory>

#include <catch2/catch.hpp>

namespace backup::test {

namespace fs = std::filesystem;

util::Expected<std::vector<RepoFile>> list_repository_files(const std::string& root) {
    std::vector<RepoFile> files;
    std::error_code ec;
    fs::recursive_directory_iterator it(root, ec);
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("list repository {}", root));
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("list repository {}", root));
        }
        auto status = it->symlink_status(ec);
        if (ec == std::errc::no_such_file_or_directory) {
            ec.clear(); // restic makes and removes locks all the time: gone is not an error
            continue;
        }
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("stat {}", it->path().string()));
        }
        if (fs::is_directory(status)) {
            continue;
        }
        std::string relative = it->path().lexically_relative(root).generic_string();
        core::RepoFileKind kind = fs::is_regular_file(status)
                                      ? core::classify_repository_path(relative)
                                      : core::RepoFileKind::other;
        files.push_back({std::move(relative), kind});
    }
    std::sort(files.begin(), files.end(),
              [](const RepoFile& a, const RepoFile& b) { return a.relative < b.relative; });
    return files;
}

std::set<std::string> repository_files(const std::string& root) {
    auto listed = list_repository_files(root);
    REQUIRE(listed);
    std::set<std::string> files;
    for (const auto& f : *listed) {
        if (f.kind != core::RepoFileKind::lock) {
            files.insert(f.relative);
        }
    }
    return files;
}

bool crypt_matches(std::string_view password, const std::string& hash) {
    auto data = std::make_unique<crypt_data>(); // large: not on the stack
    std::string pw(password);
    const char* out = ::crypt_r(pw.c_str(), hash.c_str(), data.get());
    return out != nullptr && out[0] != '*' && hash == out;
}

} // namespace backup::test
