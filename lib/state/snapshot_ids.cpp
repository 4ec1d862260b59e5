#include "state/snapshot_ids.hpp"

#include "model/repository.hpp"
#include "util/fs.hpp"

namespace backup::core {

using util::ExitCode;

util::Expected<void> write_snapshot_id_file(const std::string& path,
                                            const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) {
        text += id;
        text.push_back('\0');
    }
    return util::atomic_write(path, text, 0644);
}

util::Expected<std::vector<std::string>> read_snapshot_id_file(const std::string& path) {
    std::string text = TRY(util::read_file(path));
    std::vector<std::string> ids;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\0', start);
        if (end == std::string::npos) {
            return util::fail(ExitCode::permanent, "read {}: the last entry has no NUL byte", path);
        }
        std::string id = text.substr(start, end - start);
        if (!is_repository_id(id)) {
            return util::fail(ExitCode::permanent, "read {}: entry {} is not a snapshot id", path,
                              ids.size() + 1);
        }
        ids.push_back(std::move(id));
        start = end + 1;
    }
    return ids;
}

} // namespace backup::core
