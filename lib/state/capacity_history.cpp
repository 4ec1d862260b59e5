#include "state/capacity_history.hpp"

#include <algorithm>
#include <sys/stat.h>

#include "state/json_reader.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

namespace backup::core {

using util::Json;

std::filesystem::path capacity_history_path(const std::filesystem::path& root) {
    return root / "status" / "capacity.json";
}

namespace {

CapacitySeries read_series(JsonFields& fields, const Json& value, const std::string& context) {
    CapacitySeries series;
    if (!value.is_array()) {
        fields.problem(context, "expected an array of [day, bytes]");
        return series;
    }
    for (const auto& sample : value) {
        if (!sample.is_array() || sample.size() != 2 || !sample[0].is_number_integer() ||
            !sample[1].is_number_unsigned()) {
            fields.problem(context, "expected [day, bytes] pairs of whole numbers");
            return {};
        }
        std::int64_t day = sample[0].get<std::int64_t>();
        if (!series.empty() && day <= series.back().day) {
            fields.problem(context, "days out of order");
            return {};
        }
        series.push_back({day, sample[1].get<std::uint64_t>()});
    }
    return series;
}

std::map<std::string, CapacitySeries> read_map(JsonFields& fields, const Json& top,
                                               std::string_view key) {
    std::map<std::string, CapacitySeries> out;
    const Json* object = fields.object(top, key, "");
    if (object == nullptr) {
        return out;
    }
    for (const auto& [name, value] : object->items()) {
        out[name] = read_series(fields, value, join_key(key, name));
    }
    return out;
}

Json write_map(const std::map<std::string, CapacitySeries>& map) {
    Json out = Json::object();
    for (const auto& [name, series] : map) {
        Json samples = Json::array();
        for (const auto& s : series) {
            samples.push_back(Json::array({s.day, s.bytes}));
        }
        out[name] = std::move(samples);
    }
    return out;
}

} // namespace

util::Expected<CapacityHistory> read_capacity_history(const std::filesystem::path& root) {
    std::string path = capacity_history_path(root).string();
    auto json = TRY(read_state_json(path, k_capacity_history_schema));
    CapacityHistory history;
    if (!json) {
        return history;
    }
    JsonFields fields(path);
    history.clients = read_map(fields, *json, "clients");
    history.filesystems = read_map(fields, *json, "filesystems");
    TRY(fields.result());
    return history;
}

util::Expected<void> write_capacity_history(const std::filesystem::path& root,
                                            const CapacityHistory& history) {
    auto path = capacity_history_path(root);
    TRY(util::make_directories(path.parent_path().string(), 0755));
    Json json = {{"schema", k_capacity_history_schema},
                 {"clients", write_map(history.clients)},
                 {"filesystems", write_map(history.filesystems)}};
    // Mount points are the operator's paths, not necessarily UTF-8: written replaced.
    return util::write_json_file(path.string(), json, 0644);
}

void add_sample(CapacitySeries& series, std::int64_t day, std::uint64_t bytes) {
    std::erase_if(series, [&](const CapacitySample& s) {
        return s.day >= day || s.day <= day - k_capacity_days_kept;
    });
    series.push_back({day, bytes});
}

std::optional<double> growth_per_day(const CapacitySeries& series, std::int64_t day,
                                     std::int64_t window) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const auto& s : series) {
        if (s.day > day || s.day <= day - window) {
            continue;
        }
        auto x = static_cast<double>(s.day - day);
        auto y = static_cast<double>(s.bytes);
        n += 1;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double denominator = n * sxx - sx * sx;
    if (n < 2 || denominator <= 0) {
        return std::nullopt;
    }
    return (n * sxy - sx * sy) / denominator;
}

} // namespace backup::core
