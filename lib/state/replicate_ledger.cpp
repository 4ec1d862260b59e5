#include "state/replicate_ledger.hpp"

#include "state/json_reader.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <sys/stat.h>

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

void ReplicaLedger::add_copied(ReplicatePhase phase, const std::string& id, std::uint64_t size) {
    ids[phase_index(phase)].insert(id);
    if (is_deletable_phase(phase)) {
        copied[phase_index(phase)][id] = CopiedFile{size, std::nullopt};
    }
}

void ReplicaLedger::remove(ReplicatePhase phase, const std::string& id) {
    ids[phase_index(phase)].erase(id);
    copied[phase_index(phase)].erase(id);
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
    Json copied = Json::object();
    for (auto phase : k_replicate_phases) {
        if (!is_deletable_phase(phase)) {
            continue;
        }
        Json entries = Json::object();
        for (const auto& [id, file] : ledger.copied[phase_index(phase)]) {
            entries[id] = {{"size", file.size},
                           {"gone_since", file.gone_since
                                              ? Json(util::format_time(*file.gone_since))
                                              : Json(nullptr)}};
        }
        copied[std::string(to_string(phase))] = std::move(entries);
    }
    return Json{
        {"schema", k_replicate_ledger_schema},
        {"destination", {{"name", ledger.name}, {"kind", ledger.kind}, {"target", ledger.target}}},
        {"config_sha256", ledger.config_sha256 ? Json(*ledger.config_sha256) : Json(nullptr)},
        {"updated", ledger.updated},
        {"files", std::move(files)},
        {"copied", std::move(copied)},
    };
}

namespace {

std::unexpected<util::Error> invalid(std::string_view what, std::string_view problem) {
    return util::fail(ExitCode::permanent, "read ledger {}: {}", what, problem);
}

// One "copied" entry: {"size": bytes, "gone_since": TIME|null}.
util::Expected<CopiedFile> read_copied_file(const Json& entry, std::string_view what,
                                            std::string_view key) {
    CopiedFile file;
    auto size = entry.is_object() ? entry.find("size") : entry.end();
    if (!entry.is_object() || size == entry.end() || !size->is_number_unsigned()) {
        return invalid(what, fmt::format("'copied.{}' has no 'size' number", key));
    }
    file.size = size->get<std::uint64_t>();
    auto gone = entry.find("gone_since");
    if (gone == entry.end() || !(gone->is_null() || gone->is_string())) {
        return invalid(what, fmt::format("'copied.{}.gone_since' is missing or neither a time "
                                         "nor null",
                                         key));
    }
    if (gone->is_string()) {
        file.gone_since = util::parse_unix_time(gone->get_ref<const std::string&>());
        if (!file.gone_since) {
            return invalid(what, fmt::format("'copied.{}.gone_since' is not a time", key));
        }
    }
    return file;
}

// Schema 2's "copied", each id one of "files".
util::Expected<void> read_copied(const Json& json, std::string_view what, ReplicaLedger& ledger) {
    auto copied = json.find("copied");
    if (copied == json.end() || !copied->is_object()) {
        return invalid(what, "no 'copied' object");
    }
    for (auto phase : k_replicate_phases) {
        if (!is_deletable_phase(phase)) {
            continue;
        }
        std::string key(to_string(phase));
        auto entries = copied->find(key);
        if (entries == copied->end() || !entries->is_object()) {
            return invalid(what, fmt::format("'copied.{}' is missing or not an object", key));
        }
        for (const auto& [id, entry] : entries->items()) {
            std::string where = fmt::format("{}.{}", key, id);
            if (!ledger.contains(phase, id)) {
                return invalid(what, fmt::format("'copied.{}' is not in 'files.{}'", where, key));
            }
            ledger.copied[phase_index(phase)][id] = TRY(read_copied_file(entry, what, where));
        }
    }
    return {};
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
    int number = schema->get<int>();
    if (number != k_replicate_ledger_schema && number != k_replicate_ledger_schema_1) {
        return invalid(what,
                       fmt::format("schema {} is not supported (this version reads {} and {})",
                                   schema->dump(), k_replicate_ledger_schema_1,
                                   k_replicate_ledger_schema));
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
    if (number == k_replicate_ledger_schema) {
        TRY(read_copied(json, what, ledger));
    }
    return ledger;
}

util::Expected<std::optional<ReplicaLedger>> read_replica_ledger(const std::string& path) {
    // Not read_state_file: two schemas are read (replica_ledger_from_json checks which).
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::optional<ReplicaLedger>();
        }
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    Json json = TRY(util::read_json_file(path));
    return std::optional<ReplicaLedger>(TRY(replica_ledger_from_json(json, path)));
}

util::Expected<void> write_replica_ledger(const std::string& path, ReplicaLedger& ledger) {
    ledger.updated = util::format_time(util::now());
    return util::write_json_file(path, replica_ledger_to_json(ledger), 0600);
}

} // namespace backup::core
