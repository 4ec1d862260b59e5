#include "state/source_listing.hpp"

#include "model/repository.hpp"
#include "state/replicate_ledger.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

#include <cerrno>
#include <charconv>
#include <sys/stat.h>

namespace backup::core {

using util::ExitCode;
using util::Json;

namespace {

constexpr std::string_view k_magic = "restic-replicate source listing\n";

std::unexpected<util::Error> invalid(const std::string& path, std::string_view problem) {
    return util::fail(ExitCode::permanent, "read source listing {}: {}", path, problem);
}

// The next space-separated word of line, as a number.
template <typename T>
bool take_number(std::string_view& line, T& out) {
    auto space = line.find(' ');
    std::string_view word = line.substr(0, space);
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), out);
    if (word.empty() || ec != std::errc() || end != word.data() + word.size()) {
        return false;
    }
    line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
    return true;
}

// "d NAME INODE MTIME_NS CTIME_NS IGNORED COUNT"
bool parse_directory_line(std::string_view line, ListedDirectory& dir) {
    if (!line.starts_with("d ")) {
        return false;
    }
    line.remove_prefix(2);
    auto space = line.find(' ');
    if (space == 0 || space == std::string_view::npos) {
        return false;
    }
    dir.name = std::string(line.substr(0, space));
    line.remove_prefix(space + 1);
    return take_number(line, dir.stamp.inode) && take_number(line, dir.stamp.mtime_ns) &&
           take_number(line, dir.stamp.ctime_ns) && take_number(line, dir.ignored) &&
           take_number(line, dir.count) && line.empty();
}

util::Expected<void> parse_header(std::string_view line, const std::string& path,
                                  SourceListing& listing) {
    Json header = Json::parse(line, nullptr, false);
    if (header.is_discarded() || !header.is_object()) {
        return invalid(path, "its header is not a JSON object");
    }
    auto field = [&](const char* key) { return header.find(key); };
    auto schema = field("schema");
    if (schema == header.end() || !schema->is_number_integer() ||
        schema->get<int>() != k_source_listing_schema) {
        return invalid(path, fmt::format("its schema is not {}", k_source_listing_schema));
    }
    auto source = field("source");
    auto device = field("device");
    auto listed = field("listed_ns");
    auto full = field("full_listing");
    if (source == header.end() || !source->is_string() || device == header.end() ||
        !device->is_number_unsigned() || listed == header.end() || !listed->is_number_integer() ||
        full == header.end() || !full->is_number_integer()) {
        return invalid(path, "its header lacks 'source', 'device', 'listed_ns' or "
                             "'full_listing'");
    }
    listing.source = source->get<std::string>();
    listing.device = device->get<std::uint64_t>();
    listing.listed_ns = listed->get<std::int64_t>();
    listing.full_listing = full->get<std::int64_t>();
    return {};
}

util::Expected<SourceListing> parse_listing(std::string_view text, const std::string& path) {
    if (!text.ends_with('\n')) {
        return invalid(path, "it is cut short");
    }
    auto last = text.rfind('\n', text.size() - 2);
    std::string_view body = last == std::string_view::npos ? "" : text.substr(0, last + 1);
    if (!body.starts_with(k_magic) ||
        text.substr(body.size()) != fmt::format("end {}\n", util::sha256_hex(body))) {
        return invalid(path, "its check sum does not match (damaged or cut short)");
    }
    body.remove_prefix(k_magic.size());
    SourceListing listing;
    auto newline = body.find('\n');
    TRY(parse_header(body.substr(0, newline), path, listing));
    body.remove_prefix(newline + 1);
    while (!body.empty()) {
        newline = body.find('\n');
        ListedDirectory dir;
        if (!parse_directory_line(body.substr(0, newline), dir) ||
            (!listing.directories.empty() && listing.directories.back().name >= dir.name)) {
            return invalid(path, fmt::format("'{}' is not a directory line in order",
                                             body.substr(0, std::min<std::size_t>(newline, 160))));
        }
        body.remove_prefix(newline + 1);
        for (std::size_t i = 0; i < dir.count; ++i) {
            std::string_view id = body.substr(0, 64);
            if (body.size() < 65 || body[64] != '\n' || !is_repository_id(id) ||
                !id.starts_with(dir.name) || (i > 0 && listing.ids.back() >= id)) {
                return invalid(path,
                               fmt::format("directory {} has a bad or unsorted id", dir.name));
            }
            listing.ids.emplace_back(id);
            body.remove_prefix(65);
        }
        listing.directories.push_back(std::move(dir));
    }
    return listing;
}

} // namespace

std::string source_listing_path(const std::string& state_dir) {
    return fmt::format("{}/{}/source.listing", state_dir, k_replicate_state_subdir);
}

bool stamp_trusted(const DirectoryStamp& cached, const DirectoryStamp& now,
                   std::int64_t listed_ns) {
    return cached == now && now.mtime_ns < listed_ns - k_racy_margin_ns &&
           now.ctime_ns < listed_ns - k_racy_margin_ns;
}

util::Expected<std::optional<SourceListing>> read_source_listing(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::nullopt;
        }
        return util::fail_errno(errno, fmt::format("read {}", path));
    }
    std::string text = TRY(util::read_file(path));
    return TRY(parse_listing(text, path));
}

util::Expected<void> write_source_listing(const std::string& path, const SourceListing& listing) {
    Json header{{"schema", k_source_listing_schema},
                {"source", listing.source},
                {"device", listing.device},
                {"listed_ns", listing.listed_ns},
                {"full_listing", listing.full_listing}};
    std::string text(k_magic);
    text.reserve(listing.ids.size() * 65 + listing.directories.size() * 64 + 256);
    text += header.dump();
    text += '\n';
    std::size_t next = 0;
    for (const auto& dir : listing.directories) {
        if (next + dir.count > listing.ids.size()) {
            return util::fail(ExitCode::permanent,
                              "write {}: directory {} counts more ids than "
                              "there are",
                              path, dir.name);
        }
        fmt::format_to(std::back_inserter(text), "d {} {} {} {} {} {}\n", dir.name, dir.stamp.inode,
                       dir.stamp.mtime_ns, dir.stamp.ctime_ns, dir.ignored, dir.count);
        for (std::size_t i = 0; i < dir.count; ++i) {
            text += listing.ids[next++];
            text += '\n';
        }
    }
    if (next != listing.ids.size()) {
        return util::fail(ExitCode::permanent, "write {}: {} ids belong to no directory", path,
                          listing.ids.size() - next);
    }
    text += fmt::format("end {}\n", util::sha256_hex(text));
    // Not flushed: after a crash the file is the last one, or fails its check sum, and either
    // way lists what a directory held at the stamp it records.
    return util::atomic_write_unsynced(path, text, 0600);
}

} // namespace backup::core
