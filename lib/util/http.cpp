#include "util/http.hpp"

#include "util/fd.hpp"

#include "util/socket.hpp"

#include <algorithm>

namespace backup::util {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

Expected<std::string> dechunk(std::string_view body) {
    std::string out;
    std::size_t pos = 0;
    while (true) {
        auto eol = body.find("\r\n", pos);
        if (eol == std::string_view::npos) {
            return fail(ExitCode::temporary, "read HTTP response: truncated chunked body");
        }
        std::size_t size = 0;
        try {
            size = std::stoul(std::string(body.substr(pos, eol - pos)), nullptr, 16);
        } catch (const std::exception&) {
            return fail(ExitCode::temporary, "read HTTP response: bad chunk size");
        }
        pos = eol + 2;
        if (size == 0) {
            return out;
        }
        if (pos + size > body.size()) {
            return fail(ExitCode::temporary, "read HTTP response: truncated chunk");
        }
        out.append(body.substr(pos, size));
        pos += size + 2;
    }
}

// One request on a connected socket and its whole response; where names the server.
Expected<HttpResponse> exchange(Fd sock, const std::string& where, const HttpRequest& request) {
    std::string text = fmt::format("{} {} HTTP/1.1\r\n", request.method, request.target);
    bool has_host = false;
    for (const auto& [name, value] : request.headers) {
        has_host = has_host || lower(name) == "host";
        text += fmt::format("{}: {}\r\n", name, value);
    }
    if (!has_host) {
        text += fmt::format("Host: {}\r\n", where);
    }
    text += fmt::format("Content-Length: {}\r\nConnection: close\r\n\r\n", request.body.size());
    text += request.body;
    TRY(write_all(sock.get(), text, where));
    std::string raw = TRY(read_all(sock.get(), where));
    auto header_end = raw.find("\r\n\r\n");
    if (raw.size() < 12 || !raw.starts_with("HTTP/1.") || header_end == std::string::npos) {
        return fail(ExitCode::temporary, "read the response of {}: not an HTTP response", where);
    }
    HttpResponse response;
    try {
        response.status = std::stoi(raw.substr(9, 3));
    } catch (const std::exception&) {
        return fail(ExitCode::temporary, "read the response of {}: bad status line", where);
    }
    std::string headers = lower(raw.substr(0, header_end));
    std::string body = raw.substr(header_end + 4);
    if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        body = TRY(dechunk(body));
    }
    response.body = std::move(body);
    return response;
}

} // namespace

Expected<HttpResponse> http_request(const std::string& address, int port,
                                    const HttpRequest& request, std::chrono::seconds timeout) {
    std::string where = fmt::format("{}:{}", address, port);
    Fd sock = TRY(connect_tcp(address, port, timeout));
    return exchange(std::move(sock), where, request);
}

Expected<HttpResponse> http_request_unix(const std::string& socket_path, const HttpRequest& request,
                                         std::chrono::seconds timeout) {
    Fd sock = TRY(connect_unix(socket_path, timeout));
    return exchange(std::move(sock), socket_path, request);
}

} // namespace backup::util
