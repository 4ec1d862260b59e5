#include "model/shared.hpp"

#include "util/yaml.hpp"

#include <algorithm>
#include <set>

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
    p.certificate = dir / "tls" / "cert.pem";
    p.certificate_key = p.secrets / "tls-key.pem";
    p.admin_socket = p.secrets / "admin.sock";
    return p;
}

std::string shared_service_name(ServerKind kind) {
    return "_shared-" + std::string(to_string(kind));
}

std::string render_shared_config(const SharedInstance& instance) {
    return fmt::format("# Written by new-restic-server: the shared {} instance.\nschema: 1\n"
                       "kind: {}\nport: {}\ntls: {}\nadmin_socket: {}\n",
                       to_string(instance.kind), to_string(instance.kind), instance.port,
                       instance.tls, instance.admin_socket);
}

Expected<SharedInstance> load_shared_config(const std::string& path) {
    YAML::Node node = TRY(util::load_yaml_file(path));
    util::ConfigProblems problems(path);
    util::YamlMap top(node, "", problems);
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
    s.tls = top.boolean("tls").value_or(false);
    s.admin_socket = top.boolean("admin_socket").value_or(false);
    if (s.port == 0) {
        top.problem("port", "missing");
    }
    top.reject_unknown_keys();
    TRY(problems.result());
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

} // namespace backup::core
