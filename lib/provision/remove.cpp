#include "provision/provision.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

#include "model/runit.hpp"
#include "provision/clients.hpp"
#include "provision/owner.hpp"
#include "provision/shared_instance.hpp"
#include "provision/system_user.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"

namespace backup::core {

using util::ExitCode;
using util::Expected;

namespace {

// A client may go only when nothing of it runs or can start again.
Expected<void> check_stopped(const ServerLayout& layout, const ClientConfig& config) {
    const std::string& host = config.host;
    std::error_code ec;
    auto link = layout.enable_link(host);
    if (fs::exists(fs::symlink_status(link, ec))) {
        return util::fail(ExitCode::permanent,
                          "remove {}: it is enabled; disable it first with 'rm {}' and wait for "
                          "its services to stop",
                          host, link.string());
    }
    auto paths = layout.client(host);
    if (config.topology == Topology::shared && !fs::exists(paths.access_disabled, ec)) {
        return util::fail(ExitCode::permanent,
                          "remove {}: its access to the shared {} is enabled; disable it first "
                          "with 'new-restic-server -H {} --disable'",
                          host, to_string(config.kind), host);
    }
    for (const auto& dir : client_service_dirs(paths)) {
        if (TRY(is_supervised(dir))) {
            return util::fail(ExitCode::temporary,
                              "remove {}: {} is still supervised by a runsv; wait until it "
                              "stopped",
                              host, dir.string());
        }
    }
    return {};
}

// A shared client's repository leaves the shared data directory for target/data: for versitygw
// that also ends the bucket (a bucket is a directory of the posix backend).
Expected<void> move_shared_repository(const ClientConfig& config, const fs::path& target) {
    std::error_code ec;
    if (!fs::exists(config.repository, ec)) {
        return {};
    }
    TRY(make_dir(target / "data", 0750));
    return rename_into_place(config.repository, target / "data" / config.repository.filename());
}

// The kept data of a client whose own user goes: given to root, so that a user made later with
// the same uid does not own it.
Expected<void> give_to_root(const fs::path& dir) {
    std::error_code ec;
    if (::lchown(dir.c_str(), 0, 0) != 0) {
        return util::fail_errno(errno, fmt::format("change the owner of {}", dir.string()));
    }
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        if (::lchown(it->path().c_str(), 0, 0) != 0) {
            return util::fail_errno(errno,
                                    fmt::format("change the owner of {}", it->path().string()));
        }
    }
    if (ec) {
        return util::fail_errno(ec.value(), fmt::format("walk {}", dir.string()));
    }
    return {};
}

// The client's own system user goes last, once nothing of it is left that it owns.
Expected<void> delete_client_user(const ClientConfig& config, const fs::path& kept_data) {
    if (!config.owner_created) {
        return {}; // a user the operator named is the operator's
    }
    std::error_code ec;
    if (!kept_data.empty() && fs::exists(kept_data, ec)) {
        TRY(give_to_root(kept_data));
    }
    if (auto ok = delete_system_user(config.owner_user); !ok) {
        return std::unexpected(ok.error().with_context(
            fmt::format("remove {} (its files are gone; delete the user by hand)", config.host)));
    }
    return {};
}

} // namespace

Expected<RemovedClient> remove_client(const ServerConfig& server, const std::string& host,
                                      bool delete_data) {
    ServerLayout layout(server.root);
    ClientConfig config = TRY(existing_client(layout, host));
    auto lock = TRY(lock_server(layout));
    TRY(check_stopped(layout, config));
    bool shared = config.topology == Topology::shared;
    // Out of the client namespace in one rename, then taken apart at leisure.
    fs::path removed_dir = layout.systems() / "removed";
    std::error_code ec;
    if (!fs::is_directory(removed_dir, ec) && ::mkdir(removed_dir.c_str(), 0700) != 0 &&
        errno != EEXIST) {
        return util::fail_errno(errno, fmt::format("create directory {}", removed_dir.string()));
    }
    fs::path target =
        removed_dir / fmt::format("{}-{}", host, util::format_compact_time(util::unix_now()));
    if (shared && config.kind == ServerKind::versitygw) {
        // The account dies first (its secret is already unknown to the world while disabled).
        VersitygwAdmin admin = TRY(shared_admin(server, layout));
        if (auto ok = admin.delete_user(config.user); !ok) {
            return std::unexpected(ok.error().with_context(fmt::format("remove {}", host)));
        }
    }
    TRY(rename_into_place(layout.client(host).dir, target));
    if (shared) {
        TRY(move_shared_repository(config, target));
    }
    // Credentials die first.
    for (const auto& part : {"secrets", "client", "conf", "state", "logs"}) {
        fs::remove_all(target / part, ec);
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("remove {}", (target / part).string()));
        }
    }
    // A remote primary's repository is on its store: nothing of it is here to keep or delete.
    if (delete_data || config.is_remote()) {
        fs::remove_all(target, ec);
        if (ec) {
            return util::fail_errno(ec.value(), fmt::format("remove {}", target.string()));
        }
        TRY(delete_client_user(config, fs::path()));
        return RemovedClient{fs::path(), config.destinations, config.remote_repository};
    }
    TRY(delete_client_user(config, target / "data"));
    return RemovedClient{target / "data", config.destinations, {}};
}

} // namespace backup::core
