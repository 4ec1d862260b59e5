#include "support/access.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "util/fs.hpp"

namespace backup::test {

std::vector<AccessAttempt> s3_attempts(const std::string& endpoint, const std::string& access_key,
                                       const std::string& secret_key, const std::string& bucket,
                                       const fs::path& work, Probes probes,
                                       const std::string& ca_file) {
    auto env = base_environment();
    if (!ca_file.empty()) {
        env["RCLONE_CA_CERT"] = ca_file;
    }
    env["RCLONE_CONFIG"] = (work / "no-rclone.conf").string();
    env["RCLONE_CONFIG_PROBE_TYPE"] = "s3";
    env["RCLONE_CONFIG_PROBE_PROVIDER"] = "Other";
    env["RCLONE_CONFIG_PROBE_ENDPOINT"] = endpoint;
    env["RCLONE_CONFIG_PROBE_ACCESS_KEY_ID"] = access_key;
    env["RCLONE_CONFIG_PROBE_SECRET_ACCESS_KEY"] = secret_key;
    env["RCLONE_CONFIG_PROBE_FORCE_PATH_STYLE"] = "true";
    fs::path payload = work / "probe-payload";
    REQUIRE(util::atomic_write(payload.string(), "not yours\n", 0600));
    std::string rclone = require_program("rclone");
    auto attempt = [&](const std::string& op, std::vector<std::string> args) {
        std::vector<std::string> argv = {rclone, "--retries",    "1",  "--low-level-retries",
                                         "1",    "--contimeout", "5s", "--timeout",
                                         "10s"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_cmd(argv, env);
        return AccessAttempt{op, r.success(), r.err.substr(0, 300)};
    };
    std::string remote = "probe:" + bucket;
    std::vector<AccessAttempt> out = {
        attempt("list", {"lsf", "-R", remote}),
        attempt("read", {"cat", remote + "/config"}),
    };
    if (probes == Probes::all) {
        out.push_back(attempt("write", {"copyto", payload.string(), remote + "/data/zz-probe"}));
        out.push_back(attempt("delete", {"deletefile", remote + "/config"}));
        out.push_back(attempt("create bucket", {"mkdir", "probe:probe-new-bucket"}));
        out.push_back(attempt("delete bucket", {"rmdir", "probe:" + bucket}));
    }
    return out;
}

std::vector<AccessAttempt> rest_attempts(const std::string& endpoint, const std::string& user,
                                         const std::string& password, const std::string& repo,
                                         Probes probes, const std::string& ca_file) {
    std::string curl = require_program("curl");
    auto attempt = [&](const std::string& op, const std::string& method, const std::string& path,
                       const std::string& extra) {
        // user and password travel in curl's config, read from stdin.
        std::string config = fmt::format(
            "user = \"{}:{}\"\n{}{}", user, password, extra,
            ca_file.empty() ? std::string() : fmt::format("cacert = \"{}\"\n", ca_file));
        auto r = run_cmd({curl, "-K", "-", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                          method, endpoint + "/" + repo + path},
                         base_environment(), config);
        bool ok = r.success() && r.out.size() == 3 && r.out[0] == '2';
        return AccessAttempt{op, ok, "HTTP " + r.out};
    };
    std::string id(64, 'a');
    std::vector<AccessAttempt> out = {
        attempt("read", "GET", "/config", ""),
        attempt("list", "GET", "/snapshots/",
                "header = \"Accept: application/vnd.x.restic.rest.v2\"\n"),
    };
    if (probes == Probes::all) {
        out.push_back(attempt("write", "POST", "/data/" + id, "data = \"not yours\"\n"));
        out.push_back(attempt("delete", "DELETE", "/config", ""));
        out.push_back(attempt("create repository", "POST", "/?create=true", ""));
    }
    return out;
}

std::vector<AccessAttempt> client_attempts(const Environment& credentials,
                                           const core::ClientConfig& target, const fs::path& work,
                                           Probes probes) {
    auto value = [&](const std::string& name) {
        auto it = credentials.find(name);
        return it == credentials.end() ? std::string() : it->second;
    };
    std::string endpoint = target.endpoint();
    std::string ca = value("RESTIC_CACERT");
    if (target.kind == core::ServerKind::versitygw) {
        return s3_attempts(endpoint, value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY"),
                           target.bucket, work, probes, ca);
    }
    return rest_attempts(endpoint, value("RESTIC_REST_USERNAME"), value("RESTIC_REST_PASSWORD"),
                         target.user, probes, ca);
}

const AccessAttempt& attempt_named(const std::vector<AccessAttempt>& attempts,
                                   const std::string& operation) {
    auto it = std::find_if(attempts.begin(), attempts.end(),
                           [&](const AccessAttempt& a) { return a.operation == operation; });
    REQUIRE(it != attempts.end());
    return *it;
}

std::string successful(const std::vector<AccessAttempt>& attempts) {
    std::string out;
    for (const auto& a : attempts) {
        if (a.succeeded) {
            out += fmt::format("{} succeeded ({}); ", a.operation, a.detail);
        }
    }
    return out;
}

} // namespace backup::test
