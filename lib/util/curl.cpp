#include "util/curl.hpp"

#include <memory>
#include <mutex>

#include <curl/curl.h>

#include "util/version.hpp"

namespace backup::util {

namespace {

struct EasyFree {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistFree {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct UrlFree {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlFree {
    void operator()(char* text) const { curl_free(text); }
};

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct ReplyTarget {
    const CurlPost* request;
    std::string* body;
    CURL* curl;
};

std::size_t collect_reply(char* data, std::size_t size, std::size_t count, void* user) {
    auto* target = static_cast<ReplyTarget*>(user);
    std::size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(target->curl, CURLINFO_RESPONSE_CODE, &status);
    // Only a success's body is streamed; an error's is kept like any reply, for its message.
    if (target->request->sink && status >= 200 && status < 300) {
        return target->request->sink(std::string_view(data, n)) ? n : 0;
    }
    // Only the start of a long reply is kept; returning n goes on reading, so the status line
    // of a server that answers at length still counts.
    std::size_t limit = target->request->reply_limit;
    if (target->body->size() < limit) {
        target->body->append(data, std::min(n, limit - target->body->size()));
    }
    return n;
}

bool header_is_safe(const std::string& header) {
    return header.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

} // namespace

std::string url_host(const std::string& url) {
    global_init();
    std::unique_ptr<CURLU, UrlFree> handle(curl_url());
    if (!handle || curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
        return {};
    }
    char* host = nullptr;
    if (curl_url_get(handle.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        return {};
    }
    std::unique_ptr<char, CurlFree> owned(host);
    return host;
}

Expected<CurlReply> curl_post(const CurlPost& request) {
    global_init();
    std::string host = url_host(request.url);
    std::string_view verb = request.get ? "GET from" : "POST to";
    if (host.empty()) {
        return fail(ExitCode::permanent, "{} a URL that does not parse", verb);
    }
    std::unique_ptr<CURL, EasyFree> curl(curl_easy_init());
    if (!curl) {
        return fail(ExitCode::temporary, "{} {}: libcurl could not start", verb, host);
    }
    // A body of any size goes at once: no "Expect: 100-continue" round trip.
    std::vector<std::string> lines = request.headers;
    lines.emplace_back("Expect:");
    std::unique_ptr<curl_slist, SlistFree> headers;
    for (const auto& header : lines) {
        if (!header_is_safe(header)) {
            return fail(ExitCode::permanent, "{} {}: a header holds a line break", verb, host);
        }
        curl_slist* grown = curl_slist_append(headers.get(), header.c_str());
        if (grown == nullptr) {
            return fail(ExitCode::temporary, "{} {}: out of memory", verb, host);
        }
        (void)headers.release(); // grown is the same list, one longer
        headers.reset(grown);
    }
    CurlReply reply;
    char error[CURL_ERROR_SIZE] = {};
    std::string agent = fmt::format("restic-backup-toolkit/{}", k_version);
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!request.ca_file.empty()) {
        curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
    }
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long timeout = static_cast<long>(request.timeout.count());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout > 0 ? timeout : 30000L);
    if (!request.unix_socket.empty()) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, request.unix_socket.c_str());
    }
    curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    if (request.get) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
    }
    ReplyTarget target{&request, &reply.body, c};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &target);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        return fail(rc == CURLE_URL_MALFORMAT ? ExitCode::permanent : ExitCode::temporary,
                    "{} {}: {}", verb, host, error[0] != '\0' ? error : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
}

} // namespace backup::util
