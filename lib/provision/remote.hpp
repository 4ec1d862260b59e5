// A client whose primary repository is on an object store this server does not run (a remote
// primary, issue 18): what provisioning learns from the operator's rclone config, and the files
// it writes from it. The server only ever lists and reads that store; the client writes to it
// with a key of its own.
#pragma once

#include <string>

#include "model/config.hpp"
#include "util/error.hpp"

namespace backup::core {

// The remote as the rclone config defines it.
struct RemoteStore {
    std::string name;         // the remote's name (before ':')
    std::string path;         // after ':': bucket/path on an S3 store
    std::string config_text;  // what goes to secrets/rclone.conf
    bool placeholder = false; // no config given: a template whose keys the operator fills in
    std::string type;         // rclone's backend type ("s3", ...)
    std::string endpoint;     // an s3 remote's endpoint, when it names one
    std::string region;       // an s3 remote's region, when it names one
};

// rclone as restic-replicate and backup-syncd find it: installed with the toolkit, else on PATH
// (100 saying how to install it, nothing changed).
util::Expected<std::string> find_rclone();

// The remote "NAME:PATH" and its config: with config_file (the operator's rclone config, read by
// `rclone config dump` with nothing but that file, so no RCLONE_CONFIG_* variable of this
// shell counts), the file's text, which must define NAME (100 otherwise, and for a file that
// cannot be read or parsed); without one, a template with NAME's section and placeholder keys.
util::Expected<RemoteStore> read_remote_store(const std::string& remote,
                                              const std::string& config_file,
                                              const std::string& rclone);

// The client's RESTIC_REPOSITORY: s3:ENDPOINT/PATH for an s3 remote with an endpoint, else empty
// (the operator fills it in).
std::string remote_repository_url(const RemoteStore& store);

// The client's environ file: its repository (or a placeholder saying what goes there) and
// placeholders for its own read-write key, saying so.
std::string render_remote_environ(const ClientConfig& config, const RemoteStore& store);

// What the output says the operator still has to do for the files above (empty: nothing).
std::string remote_placeholders_text(const RemoteStore& store, const std::string& rclone_config);

} // namespace backup::core
