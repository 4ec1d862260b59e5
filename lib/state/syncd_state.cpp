#include "state/syncd_state.hpp"

#include "model/repository.hpp"
#include "state/json_reader.hpp"

namespace backup::core {

namespace {

std::string state_path(const std::filesystem::path& state_dir) {
    return (state_dir / std::string(k_syncd_state_file)).string();
}

} // namespace

util::Expected<SyncState> read_sync_state(const std::filesystem::path& state_dir) {
    std::string path = state_path(state_dir);
    auto json = TRY(read_state_json(path, k_syncd_state_schema));
    SyncState state;
    if (!json) {
        return state;
    }
    JsonFields r(path);
    for (auto& id : r.string_list(*json, "synced", "")) {
        if (!is_repository_id(id)) {
            r.problem("synced", fmt::format("'{}' is not a snapshot ID", id));
            continue;
        }
        state.synced.insert(std::move(id));
    }
    TRY(r.result());
    state.initialized = true;
    return state;
}

util::Expected<void> write_sync_state(const std::filesystem::path& state_dir,
                                      const SyncState& state) {
    util::Json json = {
        {"schema", k_syncd_state_schema},
        {"synced", std::vector<std::string>(state.synced.begin(), state.synced.end())}};
    return util::write_json_file(state_path(state_dir), json, 0644);
}

} // namespace backup::core
