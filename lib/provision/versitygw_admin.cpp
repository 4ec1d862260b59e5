#include "provision/versitygw_admin.hpp"

#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/sigv4.hpp"
#include "util/socket.hpp"
#include "util/time.hpp"

#include <thread>

namespace backup::core {

using util::ExitCode;
using util::Expected;

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
    std::string text = TRY(util::read_file(file.string()));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    if (text.empty()) {
        return util::fail(ExitCode::permanent, "read {}: it is empty", file.string());
    }
    return text;
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
    std::string access = TRY(read_key(env / "ROOT_ACCESS_KEY_ID"));
    std::string secret = TRY(read_key(env / "ROOT_SECRET_ACCESS_KEY"));
    return VersitygwAdmin("", address, port, access, secret);
}

Expected<VersitygwAdmin> VersitygwAdmin::for_envdir(const fs::path& env, const fs::path& socket) {
    std::string access = TRY(read_key(env / "ROOT_ACCESS_KEY_ID"));
    std::string secret = TRY(read_key(env / "ROOT_SECRET_ACCESS_KEY"));
    return VersitygwAdmin(socket.string(), "localhost", 0, access, secret);
}

Expected<VersitygwAdmin> VersitygwAdmin::for_socket(const SharedPaths& paths) {
    VersitygwAdmin admin = TRY(for_instance(paths, "localhost", 0));
    admin.m_socket = paths.admin_socket.string();
    return admin;
}

std::string VersitygwAdmin::where() const {
    return m_socket.empty() ? fmt::format("{}:{}", m_address, m_port) : m_socket;
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
    std::string amz_date = util::format_compact_time(util::unix_now());
    sign.headers = std::move(extra_headers);
    sign.headers["host"] =
        m_socket.empty() ? fmt::format("{}:{}", m_address, m_port) : std::string("localhost");
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
    auto response = m_socket.empty() ? util::http_request(m_address, m_port, request)
                                     : util::http_request_unix(m_socket, request);
    if (!response) {
        return std::unexpected(response.error().with_context(
            fmt::format("{} (versitygw admin API at {})", what, where())));
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

Expected<void> VersitygwAdmin::wait_ready(std::chrono::seconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        auto connected = m_socket.empty()
                             ? util::connect_tcp(m_address, m_port, std::chrono::seconds(5))
                             : util::connect_unix(m_socket, std::chrono::seconds(5));
        if (connected) {
            return {};
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return util::fail(ExitCode::temporary,
                              "reach the shared versitygw's admin API at {}: {} (is the top-level "
                              "runsvdir running? the service is {})",
                              where(), connected.error().message(),
                              shared_service_name(ServerKind::versitygw));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

} // namespace backup::core
