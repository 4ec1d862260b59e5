#include "state/wrapper_check.hpp"

#include "state/json_reader.hpp"

namespace backup::core {

CheckRotation current_check_rotation(const std::optional<CheckRotation>& saved, int subsets) {
    if (saved && saved->subsets == subsets && saved->next >= 1 && saved->next <= subsets) {
        return *saved;
    }
    return {subsets, 1};
}

CheckRotation advance_check_rotation(CheckRotation rotation) {
    rotation.next = rotation.next >= rotation.subsets ? 1 : rotation.next + 1;
    return rotation;
}

util::Expected<std::optional<CheckRotation>> read_check_rotation(const std::string& path) {
    auto refused = [&] {
        return util::fail(util::ExitCode::permanent,
                          "read {}: expected {{\"schema\": {}, \"read_data_subsets\": t, "
                          "\"next\": n}} with 1 <= n <= t <= {}",
                          path, k_wrapper_check_schema, k_max_check_subsets);
    };
    auto json = read_state_json(path, k_wrapper_check_schema);
    if (!json) {
        return json.error().code() == util::ExitCode::permanent ? refused()
                                                                : std::unexpected(json.error());
    }
    if (!*json) {
        return std::optional<CheckRotation>{};
    }
    JsonFields r(path);
    auto subsets =
        static_cast<int>(r.integer(**json, "read_data_subsets", "", 1, k_max_check_subsets));
    auto next = static_cast<int>(r.integer(**json, "next", "", 1, k_max_check_subsets));
    if (!r.result() || next > subsets) {
        return refused();
    }
    return std::optional<CheckRotation>(CheckRotation{subsets, next});
}

util::Expected<void> write_check_rotation(const std::string& path, const CheckRotation& rotation) {
    util::Json value = {{"schema", k_wrapper_check_schema},
                        {"read_data_subsets", rotation.subsets},
                        {"next", rotation.next}};
    return util::write_json_file(path, value, 0644);
}

} // namespace backup::core
