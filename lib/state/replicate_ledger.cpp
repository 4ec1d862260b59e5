#include "state/replicate_ledger.hpp"

#include "state/json_reader.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace backup::core {

using util::ExitCode;
using util::Json;

std::string replica_ledger_path(const std::string& state_dir, std::string_view name) {
    return fmt::format("{}/{}/{}.ledger", state_dir, k_replicate_state_subdir, name);
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
        {"schema", k_replicate_ledger_schema_json},
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
    if (number < k_replicate_ledger_schema_1 || number > k_replicate_ledger_schema) {
        return invalid(what, fmt::format("schema {} is not supported (this version reads {} to {})",
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
            set.emplace_hint(set.end(), item.get<std::string>()); // written in order
        }
    }
    if (number != k_replicate_ledger_schema_1) {
        TRY(read_copied(json, what, ledger));
    }
    return ledger;
}

namespace {

constexpr std::string_view k_journal_magic = "restic-replicate ledger journal ";
constexpr std::size_t k_check_digits = 8;

std::string with_extension(const std::string& ledger_path, std::string_view extension) {
    std::string path = ledger_path;
    if (path.ends_with(".ledger")) {
        path.resize(path.size() - 7);
    }
    return path + std::string(extension);
}

std::string journal_path(const std::string& ledger_path) {
    return with_extension(ledger_path, ".journal");
}

// Where versions before schema 3 kept the ledger, as JSON.
std::string legacy_path(const std::string& ledger_path) {
    return with_extension(ledger_path, ".json");
}

std::string journal_line(std::string_view change) {
    return fmt::format("{} {}\n", change, util::sha256_hex(change).substr(0, k_check_digits));
}

std::optional<ReplicatePhase> listed_phase(std::string_view name) {
    for (auto phase : k_replicate_phases) {
        if (phase != ReplicatePhase::config && to_string(phase) == name) {
            return phase;
        }
    }
    return std::nullopt;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    while (!line.empty()) {
        auto space = line.find(' ');
        words.push_back(line.substr(0, space));
        if (space == std::string_view::npos) {
            break;
        }
        line.remove_prefix(space + 1);
    }
    return words;
}

// Applies one change; false when it is not one (the journal is then not read further).
bool apply_change(std::string_view change, ReplicaLedger& ledger) {
    auto words = split_words(change);
    if (words.size() == 2 && words[0] == "k") {
        if (words[1] == "-") {
            ledger.config_sha256.reset();
        } else if (is_repository_id(words[1])) {
            ledger.config_sha256 = std::string(words[1]);
        } else {
            return false;
        }
        return true;
    }
    if (words.size() == 2 && words[0] == "u") {
        ledger.updated = std::string(words[1]);
        return true;
    }
    if (words.size() < 3 || !is_repository_id(words[2])) {
        return false;
    }
    std::string id(words[2]);
    auto phase = listed_phase(words[1]);
    if (!phase) {
        return false;
    }
    auto& ids = ledger.ids[phase_index(*phase)];
    auto& copied = ledger.copied[phase_index(*phase)];
    // A ledger file lists its ids in order: each goes at the end (constant time).
    if (words[0] == "+" && words.size() == 3) {
        ids.emplace_hint(ids.end(), id);
        copied.erase(id);
        return true;
    }
    if (words[0] == "-" && words.size() == 3) {
        ledger.remove(*phase, id);
        return true;
    }
    if (words[0] == "c" && words.size() == 4 && is_deletable_phase(*phase)) {
        std::uint64_t size = 0;
        auto [end, ec] = std::from_chars(words[3].begin(), words[3].end(), size);
        if (ec != std::errc() || end != words[3].end()) {
            return false;
        }
        ids.emplace_hint(ids.end(), id);
        copied.insert_or_assign(copied.end(), id, CopiedFile{size, std::nullopt});
        return true;
    }
    if (words[0] == "g" && words.size() == 4 && copied.contains(id)) {
        if (words[3] == "-") {
            copied[id].gone_since.reset();
            return true;
        }
        auto time = util::parse_unix_time(words[3]);
        if (!time) {
            return false;
        }
        copied[id].gone_since = *time;
        return true;
    }
    return false;
}

// The journal's changes, applied to ledger: how many lines were good and where the last good
// one ends. A journal of another generation, or none, applies nothing.
struct JournalRead {
    bool current = false; // it continues this ledger file
    std::size_t records = 0;
    std::uint64_t end = 0;
};

util::Expected<JournalRead> apply_journal(const std::string& path, const std::string& generation,
                                          ReplicaLedger& ledger) {
    JournalRead read;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return read;
        }
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    std::string text = TRY(util::read_file(path));
    std::string_view rest(text);
    auto first = rest.find('\n');
    if (generation.empty() || first == std::string_view::npos ||
        rest.substr(0, first) != fmt::format("{}{}", k_journal_magic, generation)) {
        return read;
    }
    read.current = true;
    read.end = first + 1;
    rest.remove_prefix(first + 1);
    while (true) {
        auto newline = rest.find('\n');
        if (newline == std::string_view::npos) {
            break; // empty, or cut short
        }
        std::string_view line = rest.substr(0, newline);
        auto space = line.rfind(' ');
        if (space == std::string_view::npos) {
            break;
        }
        std::string_view change = line.substr(0, space);
        if (line.substr(space + 1) != util::sha256_hex(change).substr(0, k_check_digits) ||
            !apply_change(change, ledger)) {
            break;
        }
        ++read.records;
        read.end += newline + 1;
        rest.remove_prefix(newline + 1);
    }
    return read;
}

std::string time_or_dash(const std::optional<std::int64_t>& time) {
    return time ? util::format_time(*time) : std::string("-");
}

// The journal lines that turn from into to, phase by phase, in id order: one pass over the four
// sorted sequences of each phase (ids and copied, before and after), no lookups.
std::string ledger_changes(const ReplicaLedger& from, const ReplicaLedger& to,
                           std::optional<ReplicatePhase> only) {
    std::string out;
    for (auto phase : k_replicate_phases) {
        if (phase == ReplicatePhase::config || (only && phase != *only)) {
            continue;
        }
        std::string_view name = to_string(phase);
        const auto& before = from.ids[phase_index(phase)];
        const auto& after = to.ids[phase_index(phase)];
        const auto& copied_before = from.copied[phase_index(phase)];
        const auto& copied_after = to.copied[phase_index(phase)];
        auto cb = copied_before.begin();
        auto ca = copied_after.begin();
        // The entry of copied for id, advancing it (ids are visited in increasing order).
        auto copied_entry = [](auto& it, const auto& map, const std::string& id) {
            while (it != map.end() && it->first < id) {
                ++it;
            }
            return it != map.end() && it->first == id ? &it->second : nullptr;
        };
        auto b = before.begin();
        auto a = after.begin();
        while (b != before.end() || a != after.end()) {
            if (a == after.end() || (b != before.end() && *b < *a)) {
                out += journal_line(fmt::format("- {} {}", name, *b));
                ++b;
                continue;
            }
            bool is_new = b == before.end() || *a < *b;
            const std::string& id = *a;
            const CopiedFile* was = is_new ? nullptr : copied_entry(cb, copied_before, id);
            const CopiedFile* now = copied_entry(ca, copied_after, id);
            if (now == nullptr) {
                if (is_new || was != nullptr) {
                    out += journal_line(fmt::format("+ {} {}", name, id));
                }
            } else {
                if (was == nullptr || was->size != now->size) {
                    out += journal_line(fmt::format("c {} {} {}", name, id, now->size));
                    was = nullptr; // "c" clears gone_since
                }
                auto gone_before = was == nullptr ? std::nullopt : was->gone_since;
                if (gone_before != now->gone_since) {
                    out += journal_line(
                        fmt::format("g {} {} {}", name, id, time_or_dash(now->gone_since)));
                }
            }
            ++a;
            if (!is_new) {
                ++b;
            }
        }
    }
    if (from.config_sha256 != to.config_sha256) {
        out += journal_line(fmt::format("k {}", to.config_sha256.value_or("-")));
    }
    if (!out.empty() || from.updated != to.updated) {
        out += journal_line(fmt::format("u {}", to.updated));
    }
    return out;
}

struct LedgerOnDisk {
    std::optional<ReplicaLedger> ledger;
    std::string generation;
    JournalRead journal;
};

// Schema 3, <name>.ledger:
//   restic-replicate ledger
//   {"schema": 3, "destination": {...}, "config_sha256": ..., "updated": ..., "journal": GEN}
//   one journal change per file, without a check, by phase and id: "c PHASE ID SIZE" for a
//     copied file (then "g PHASE ID TIME" when it is gone from the source), "+ PHASE ID" for
//     one found there
//   end SHA256     of every byte before this line
// A line per file parses in a fraction of the time the same ledger takes as JSON, and a ledger
// in order inserts each id at the end of its set.
constexpr std::string_view k_ledger_magic = "restic-replicate ledger\n";

std::string ledger_text(const ReplicaLedger& ledger, const std::string& generation) {
    Json header{
        {"schema", k_replicate_ledger_schema},
        {"destination", {{"name", ledger.name}, {"kind", ledger.kind}, {"target", ledger.target}}},
        {"config_sha256", ledger.config_sha256 ? Json(*ledger.config_sha256) : Json(nullptr)},
        {"updated", ledger.updated},
        {"journal", generation},
    };
    std::string text(k_ledger_magic);
    text += header.dump();
    text += '\n';
    for (auto phase : k_replicate_phases) {
        const auto& copied = ledger.copied[phase_index(phase)];
        std::string_view name = to_string(phase);
        for (const auto& id : ledger.ids[phase_index(phase)]) {
            auto file = copied.find(id);
            if (file == copied.end()) {
                fmt::format_to(std::back_inserter(text), "+ {} {}\n", name, id);
                continue;
            }
            fmt::format_to(std::back_inserter(text), "c {} {} {}\n", name, id, file->second.size);
            if (file->second.gone_since) {
                fmt::format_to(std::back_inserter(text), "g {} {} {}\n", name, id,
                               util::format_time(*file->second.gone_since));
            }
        }
    }
    text += fmt::format("end {}\n", util::sha256_hex(text));
    return text;
}

util::Expected<ReplicaLedger> parse_ledger_text(std::string_view text, const std::string& path,
                                                std::string& generation) {
    auto bad = [&](std::string_view problem) { return invalid(path, problem); };
    if (!text.ends_with('\n')) {
        return bad("it is cut short");
    }
    auto last = text.rfind('\n', text.size() - 2);
    std::string_view body = last == std::string_view::npos ? "" : text.substr(0, last + 1);
    std::string_view trailer = text.substr(body.size());
    if (!body.starts_with(k_ledger_magic) ||
        trailer != fmt::format("end {}\n", util::sha256_hex(body))) {
        return bad("its check sum does not match (damaged or cut short)");
    }
    body.remove_prefix(k_ledger_magic.size());
    auto newline = body.find('\n');
    Json header = Json::parse(body.substr(0, newline), nullptr, false);
    if (header.is_discarded() || !header.is_object()) {
        return bad("its header is not a JSON object");
    }
    auto journal = header.find("journal");
    if (journal == header.end() || !journal->is_string()) {
        return bad("its header has no 'journal'");
    }
    generation = journal->get<std::string>();
    // The header holds the JSON form's fields, without files: the same checks.
    header["files"] = Json::object();
    header["copied"] = Json::object();
    for (auto phase : k_replicate_phases) {
        if (phase != ReplicatePhase::config) {
            header["files"][std::string(to_string(phase))] = Json::array();
        }
        if (is_deletable_phase(phase)) {
            header["copied"][std::string(to_string(phase))] = Json::object();
        }
    }
    ReplicaLedger ledger = TRY(replica_ledger_from_json(header, path));
    body.remove_prefix(newline + 1);
    while (!body.empty()) {
        newline = body.find('\n');
        std::string_view line = body.substr(0, newline);
        if (!apply_change(line, ledger)) {
            return bad(fmt::format("'{}' is not a ledger line", line.substr(0, 160)));
        }
        body.remove_prefix(newline + 1);
    }
    return ledger;
}

util::Expected<LedgerOnDisk> read_ledger_files(const std::string& path) {
    LedgerOnDisk disk;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) {
            return util::fail_errno(errno, fmt::format("read {}", path));
        }
        // Not read_state_file: two schemas are read (replica_ledger_from_json checks which).
        std::string legacy = legacy_path(path);
        if (::stat(legacy.c_str(), &st) != 0) {
            if (errno == ENOENT) {
                return disk;
            }
            return util::fail_errno(errno, fmt::format("read {}", legacy));
        }
        Json json = TRY(util::read_json_file(legacy));
        disk.ledger = TRY(replica_ledger_from_json(json, legacy));
        return disk; // no journal: the next save writes the whole ledger in schema 3
    }
    std::string text = TRY(util::read_file(path));
    disk.ledger = TRY(parse_ledger_text(text, path, disk.generation));
    disk.journal = TRY(apply_journal(journal_path(path), disk.generation, *disk.ledger));
    return disk;
}

util::Expected<std::string> write_ledger_files(const std::string& path, ReplicaLedger& ledger) {
    ledger.updated = util::format_time(util::now());
    std::string generation = TRY(util::random_token(16, "0123456789abcdef"));
    // The ledger first: a crash before the journal is replaced leaves one of the old
    // generation, which the new ledger file does not read.
    TRY(util::atomic_write(path, ledger_text(ledger, generation), 0600));
    TRY(util::atomic_write(journal_path(path), fmt::format("{}{}\n", k_journal_magic, generation),
                           0600));
    // The JSON of an earlier version, now superseded (it is read only when there is no ledger).
    if (::unlink(legacy_path(path).c_str()) != 0 && errno != ENOENT) {
        return util::fail_errno(errno, fmt::format("remove {}", legacy_path(path)));
    }
    return generation;
}

} // namespace

util::Expected<std::optional<ReplicaLedger>> read_replica_ledger(const std::string& path) {
    return TRY(read_ledger_files(path)).ledger;
}

util::Expected<void> write_replica_ledger(const std::string& path, ReplicaLedger& ledger) {
    TRY(write_ledger_files(path, ledger));
    return {};
}

ReplicaLedgerFile::ReplicaLedgerFile(std::string path)
    : m_path(std::move(path)), m_journal(journal_path(m_path)) {}

util::Expected<const ReplicaLedger*> ReplicaLedgerFile::read() {
    m_saved.reset();
    m_generation.clear();
    auto disk = TRY(read_ledger_files(m_path));
    if (!disk.ledger) {
        return nullptr;
    }
    m_saved = std::move(disk.ledger);
    if (disk.journal.current) {
        m_generation = disk.generation;
        m_records = disk.journal.records;
        m_end = disk.journal.end;
    }
    return &*m_saved;
}

util::Expected<void> ReplicaLedgerFile::write_whole(ReplicaLedger& ledger) {
    m_saved.reset();
    m_generation.clear();
    std::string generation = TRY(write_ledger_files(m_path, ledger));
    m_saved = ledger;
    m_generation = std::move(generation);
    m_records = 0;
    m_end = k_journal_magic.size() + m_generation.size() + 1;
    return {};
}

util::Expected<void> ReplicaLedgerFile::save(ReplicaLedger& ledger,
                                             std::optional<ReplicatePhase> only) {
    if (!m_saved || m_generation.empty() || m_saved->name != ledger.name ||
        m_saved->kind != ledger.kind || m_saved->target != ledger.target ||
        m_records > std::max<std::size_t>(256, m_saved->file_count() / 4)) {
        return write_whole(ledger);
    }
    ledger.updated = util::format_time(util::now());
    std::string changes = ledger_changes(*m_saved, ledger, only);
    util::Fd fd(::open(m_journal.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) {
            return write_whole(ledger); // removed by hand: the whole ledger again
        }
        return util::fail_errno(errno, fmt::format("open {}", m_journal));
    }
    // Until the append is known to be on disk, the next save writes the whole ledger.
    std::string generation = std::exchange(m_generation, {});
    // Whatever follows the last good line (a crash while appending) goes first.
    if (::ftruncate(fd.get(), static_cast<off_t>(m_end)) != 0) {
        return util::fail_errno(errno, fmt::format("truncate {}", m_journal));
    }
    std::size_t done = 0;
    while (done < changes.size()) {
        ssize_t n = ::pwrite(fd.get(), changes.data() + done, changes.size() - done,
                             static_cast<off_t>(m_end + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return util::fail_errno(errno, fmt::format("write {}", m_journal));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd.get()) != 0) {
        return util::fail_errno(errno, fmt::format("fdatasync {}", m_journal));
    }
    // What is on disk now: the saved ledger with the same changes, applied as a reader would
    // (no copy of the whole ledger).
    std::string_view rest(changes);
    while (!rest.empty()) {
        auto newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        apply_change(line.substr(0, line.rfind(' ')), *m_saved);
        rest.remove_prefix(newline + 1);
        ++m_records;
    }
    m_end += changes.size();
    m_generation = std::move(generation);
    return {};
}

} // namespace backup::core
