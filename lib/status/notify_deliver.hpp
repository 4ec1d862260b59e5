// Inside --notify: one message to one target, as its kind says: a webhook POST through libcurl, a
// mail through the system's sendmail, a command. Errors read "unable to notify TARGET: why"; they
// never hold the token or a whole URL (whose path may be a secret of its own).
#pragma once

#include <string>

#include "model/status_settings.hpp"
#include "status/notify.hpp"

namespace backup::core {

// Delivers message to target, within target.timeout. A webhook succeeds on an HTTP 2xx answer, a
// mail or a command when the program exits 0.
util::Expected<void> deliver_notification(const NotifyTarget& target, const NotifyMessage& message,
                                          const StatusSettings& settings);

// The token in path: one line (its line break dropped) of printable ASCII without spaces, and for
// a URL (in_url) only characters that cannot change where the URL points (letters, digits and
// -._~/%+=). The file must be private and owned by this user or root (util::check_secret_file).
util::Expected<std::string> read_notify_token(const std::string& path, bool in_url);

// url with suffix ("/fail") added to its path, before a query or fragment.
std::string url_with_path_suffix(const std::string& url, const std::string& suffix);

} // namespace backup::core
