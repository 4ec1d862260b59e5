#include "state/replicate_ledger.hpp"

#include "state/json_reader.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Json;

std::string replica_ledger_path(const std::string& state_dir, std::string_view name) {
    return fmt::format("{}/{}/{}.json", state_dir, k_replicate_state_subdir, name);
}

std::size_t ReplicaLedger::file_count() const {
    std::size_t count = 0;
    for (const auto& set : ids) {
        count += set.size();
    }
    return count;
}

Json replica_ledger_to_json(const ReplicaLedger& ledger) {
    Json files = Json::object();
    for (auto phase : k_replicate_phases) {
        if (phase == ReplicatePhase::config) {
            continue;
        }
        Json list = Json::array();
        for (const auto& id : ledger.ids[phase_index(phase)]) {
            list.push_back(id);
        }
        files[std::string(to_string(phase))] = std::move(list);
    }
    return Json{
        {"schema", k_replicate_ledger_schema},
        {"destination", {{"name", ledger.name}, {"kind", ledger.kind}, {"target", ledger.target}}},
        {"config_sha256", ledger.config_sha256 ? Json(*ledger.config_sha256) : Json(nullptr)},
        {"updated", ledger.updated},
        {"files", std::move(files)},
    };
}

namespace {

std::unexpected<util::Error> invalid(std::string_view what, std::string_view problem) {
    return util::fail(ExitCode::permanent, "read ledger {}: {}", what, problem);
}

} // namespace

util::Expected<ReplicaLedger> replica_ledger_from_json(const Json& json, std::string_view what) {
    if (!json.is_object()) {
        return invalid(what, "not a JSON object");
    }
    auto schema = json.find("schema");
    if (schema == json.end() || !schema->is_number_integer()) {
        return invalid(what, "no schema number");
    }
    if (schema->get<int>() != k_replicate_ledger_schema) {
        return invalid(what, fmt::format("schema {} is not supported (this version reads {})",
                                         schema->dump(), k_replicate_ledger_schema));
    }
    ReplicaLedger ledger;
    auto destination = json.find("destination");
    if (destination == json.end() || !destination->is_object()) {
        return invalid(what, "no 'destination' object");
    }
    for (auto [key, field] : {std::pair<const char*, std::string*>{"name", &ledger.name},
                              {"kind", &ledger.kind},
                              {"target", &ledger.target}}) {
        auto it = destination->find(key);
        if (it == destination->end() || !it->is_string()) {
            return invalid(what, fmt::format("'destination.{}' is missing or not a string", key));
        }
        *field = it->get<std::string>();
    }
    auto config = json.find("config_sha256");
    if (config == json.end() || !(config->is_null() || config->is_string())) {
        return invalid(what, "'config_sha256' is missing or neither a string nor null");
    }
    if (config->is_string()) {
        ledger.config_sha256 = config->get<std::string>();
        if (!is_repository_id(*ledger.config_sha256)) {
            return invalid(what, "'config_sha256' is not 64 lowercase hex characters");
        }
    }
    auto updated = json.find("updated");
    if (updated == json.end() || !updated->is_string()) {
        return invalid(what, "'updated' is missing or not a string");
    }
    ledger.updated = updated->get<std::string>();
    auto files = json.find("files");
    if (files == json.end() || !files->is_object()) {
        return invalid(what, "no 'files' object");
    }
    for (auto phase : k_replicate_phases) {
        if (phase == ReplicatePhase::config) {
            continue;
        }
        std::string key(to_string(phase));
        auto list = files->find(key);
        if (list == files->end() || !list->is_array()) {
            return invalid(what, fmt::format("'files.{}' is missing or not an array", key));
        }
        auto& set = ledger.ids[phase_index(phase)];
        for (const auto& item : *list) {
            if (!item.is_string() || !is_repository_id(item.get_ref<const std::string&>())) {
                return invalid(what, fmt::format("'files.{}' holds {}, not a repository id", key,
                                                 item.dump()));
            }
            set.insert(item.get<std::string>());
        }
    }
    return ledger;
}

util::Expected<std::optional<ReplicaLedger>> read_replica_ledger(const std::string& path) {
    return read_state_file<ReplicaLedger>(path, k_replicate_ledger_schema,
                                          replica_ledger_from_json);
}

util::Expected<void> write_replica_ledger(const std::string& path, ReplicaLedger& ledger) {
    ledger.updated = util::format_time(util::now());
    return util::write_json_file(path, replica_ledger_to_json(ledger), 0600);
}

} // namespace backup::core
