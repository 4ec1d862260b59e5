#include "core/shared.hpp"

#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/sigv4.hpp"
#include "util/yaml.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <yaml-cpp/yaml.h>

namespace backup::core {

using util::ExitCode;
using util::Expected;

SharedPaths shared_paths(const ServerLayout& layout, ServerKind kind) {
    return shared_paths_at(layout.root() / "shared" / std::string(to_string(kind)));
}

SharedPaths shared_paths_at(const fs::path& dir) {
    SharedPaths p;
    p.dir = dir;
    p.config_file = dir / "shared.yaml";
    p.service = dir / "service";
    p.secrets = dir / "secrets";
    p.data = dir / "data";
    p.iam = dir / "iam";
    p.logs = dir / "logs";
    return p;
}

std::string shared_service_name(ServerKind kind) {
    return "_shared-" + std::string(to_string(kind));
}

std::string render_shared_config(const SharedInstance& instance) {
    return fmt::format("# Written by new-restic-server: the shared {} instance.\nschema: 1\n"
                       "kind: {}\nport: {}\n",
                       to_string(instance.kind), to_string(instance.kind), instance.port);
}

Expected<SharedInstance> load_shared_config(const std::string& path) {
    auto node = util::load_yaml_file(path);
    if (!node) {
        return std::unexpected(node.error());
    }
    util::ConfigProblems problems(path);
    util::YamlMap top(*node, "", problems);
    SharedInstance s;
    if (top.integer("schema", 1, 1).value_or(0) != 1) {
        top.problem("schema", "expected 1");
    }
    if (auto k = parse_server_kind(top.string("kind").value_or(""))) {
        s.kind = *k;
    } else {
        top.problem("kind", "expected versitygw or rest-server");
    }
    s.port = static_cast<int>(top.integer("port", 1, 65535).value_or(0));
    if (s.port == 0) {
        top.problem("port", "missing");
    }
    top.reject_unknown_keys();
    if (auto ok = problems.result(); !ok) {
        return std::unexpected(ok.error());
    }
    return s;
}

std::vector<int> shared_instance_ports(const ServerLayout& layout) {
    std::vector<int> ports;
    for (auto kind : {ServerKind::versitygw, ServerKind::rest_server}) {
        auto file = shared_paths(layout, kind).config_file;
        std::error_code ec;
        if (!fs::exists(file, ec)) {
            continue;
        }
        if (auto s = load_shared_config(file.string())) {
            ports.push_back(s->port);
        }
    }
    return ports;
}

Expected<std::string> compose_htpasswd(std::vector<std::string> lines) {
    std::sort(lines.begin(), lines.end());
    std::set<std::string> users;
    std::string out;
    for (const auto& line : lines) {
        auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0 || line.find('\n') != std::string::npos) {
            return util::fail(ExitCode::permanent, "compose the htpasswd file: bad entry '{}'",
                              line.substr(0, colon));
        }
        if (!users.insert(line.substr(0, colon)).second) {
            return util::fail(ExitCode::permanent, "compose the htpasswd file: user {} twice",
                              line.substr(0, colon));
        }
        out += line + "\n";
    }
    return out;
}

namespace {

std::string xml_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '&':
            out += "&amp;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

std::string xml_element(const std::string& body, const std::string& name) {
    auto open = body.find("<" + name + ">");
    auto close = body.find("</" + name + ">");
    if (open == std::string::npos || close == std::string::npos || close < open) {
        return {};
    }
    open += name.size() + 2;
    return body.substr(open, close - open);
}

Expected<std::string> read_key(const fs::path& file) {
    auto text = util::read_file(file.string());
    if (!text) {
        return std::unexpected(text.error());
    }
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) {
        text->pop_back();
    }
    if (text->empty()) {
        return util::fail(ExitCode::permanent, "read {}: it is empty", file.string());
    }
    return *text;
}

} // namespace

std::string versitygw_account_xml(const std::string& access, const std::string& secret,
                                  const std::string& role) {
    return fmt::format("<Account><Access>{}</Access><Secret>{}</Secret><Role>{}</Role>"
                       "<UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>",
                       xml_escape(access), xml_escape(secret), xml_escape(role));
}

std::string versitygw_secret_xml(const std::string& secret) {
    return fmt::format("<MutableProps><Secret>{}</Secret></MutableProps>", xml_escape(secret));
}

Expected<VersitygwAdmin> VersitygwAdmin::for_instance(const SharedPaths& paths,
                                                      const std::string& address, int port) {
    auto env = paths.secrets / "versitygw.env";
    auto access = read_key(env / "ROOT_ACCESS_KEY_ID");
    if (!access) {
        return std::unexpected(access.error());
    }
    auto secret = read_key(env / "ROOT_SECRET_ACCESS_KEY");
    if (!secret) {
        return std::unexpected(secret.error());
    }
    return VersitygwAdmin(address, port, *access, *secret);
}

Expected<util::HttpResponse> VersitygwAdmin::call(const std::string& method,
                                                  const std::string& path,
                                                  const std::map<std::string, std::string>& query,
                                                  std::map<std::string, std::string> extra_headers,
                                                  const std::string& body,
                                                  const std::string& what) const {
    util::SigV4Request sign;
    sign.method = method;
    sign.path = path;
    sign.query = query;
    sign.payload_sha256 = util::sha256_hex(body);
    std::string amz_date = util::sigv4_timestamp(std::time(nullptr));
    sign.headers = std::move(extra_headers);
    sign.headers["host"] = fmt::format("{}:{}", m_address, m_port);
    sign.headers["x-amz-date"] = amz_date;
    sign.headers["x-amz-content-sha256"] = sign.payload_sha256;
    util::SigV4Credentials credentials{m_root_access, m_root_secret, "us-east-1", "s3"};
    util::HttpRequest request;
    request.method = method;
    std::string canonical_query = util::sigv4_canonical_query(query);
    request.target = path + (canonical_query.empty() ? "" : "?" + canonical_query);
    request.headers = sign.headers;
    request.headers["authorization"] = util::sigv4_authorization(sign, credentials, amz_date);
    request.body = body;
    auto response = util::http_request(m_address, m_port, request);
    if (!response) {
        return std::unexpected(response.error().with_context(
            fmt::format("{} (versitygw admin API at {}:{})", what, m_address, m_port)));
    }
    if (response->status >= 300) {
        std::string code = xml_element(response->body, "Code");
        std::string message = xml_element(response->body, "Message");
        auto kind = response->status >= 500 ? ExitCode::temporary : ExitCode::permanent;
        return util::fail(kind, "{}: versitygw answered HTTP {}{}{}", what, response->status,
                          code.empty() ? "" : " " + code, message.empty() ? "" : ": " + message);
    }
    return response;
}

Expected<void> VersitygwAdmin::create_user(const std::string& access,
                                           const std::string& secret) const {
    auto r = call("PATCH", "/create-user", {}, {}, versitygw_account_xml(access, secret, "user"),
                  fmt::format("create versitygw account {}", access));
    return r ? Expected<void>() : std::unexpected(r.error());
}

Expected<void> VersitygwAdmin::set_secret(const std::string& access,
                                          const std::string& secret) const {
    auto r = call("PATCH", "/update-user", {{"access", access}}, {}, versitygw_secret_xml(secret),
                  fmt::format("change the secret of versitygw account {}", access));
    return r ? Expected<void>() : std::unexpected(r.error());
}

Expected<void> VersitygwAdmin::delete_user(const std::string& access) const {
    auto r = call("PATCH", "/delete-user", {{"access", access}}, {}, "",
                  fmt::format("delete versitygw account {}", access));
    return r ? Expected<void>() : std::unexpected(r.error());
}

Expected<void> VersitygwAdmin::create_bucket(const std::string& bucket,
                                             const std::string& owner) const {
    auto r = call("PATCH", "/" + bucket + "/create", {}, {{"x-vgw-owner", owner}}, "",
                  fmt::format("create bucket {} for {}", bucket, owner));
    return r ? Expected<void>() : std::unexpected(r.error());
}

Expected<void> VersitygwAdmin::delete_bucket(const std::string& bucket) const {
    auto r = call("DELETE", "/" + bucket, {}, {}, "", fmt::format("delete bucket {}", bucket));
    return r ? Expected<void>() : std::unexpected(r.error());
}

Expected<void> VersitygwAdmin::wait_ready(std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int last_errno = 0;
    while (true) {
        util::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(m_port));
        ::inet_pton(AF_INET, m_address.c_str(), &addr.sin_addr);
        if (sock && ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            return {};
        }
        last_errno = errno;
        if (std::chrono::steady_clock::now() > deadline) {
            return util::fail(ExitCode::temporary,
                              "reach the shared versitygw on {}:{}: {} (is the top-level runsvdir "
                              "running? the service is {})",
                              m_address, m_port, std::strerror(last_errno),
                              shared_service_name(ServerKind::versitygw));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

} // namespace backup::core
