// The create body's names for the OCI fields that truman::validate() names: one table, read
// by the create handler for every error the service's validation returns.
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "truman/api/mapping.hpp"

namespace truman::api {

namespace {

// OCI path -> body field. A row matches a whole prefix of components; "[]" matches any index
// and passes it on; the rest of the path follows the body's name unchanged unless the body
// has nothing that it could name. The first matching row wins, so longer rows come first.
struct FieldName {
    std::string_view oci;
    std::string_view api;
    bool keep_rest = true;
};
constexpr FieldName kFieldNames[] = {
    {"process.args", "cmd"},
    {"process.env", "env"},
    {"process.cwd", "cwd"},
    {"process.user", "user"},
    {"process.capabilities", "cap_add", false},  // the sets are made from cap_add/cap_drop
    {"process.noNewPrivileges", "no_new_privileges"},
    {"process.rlimits", "rlimits"},
    {"root.path", "rootfs"},
    {"root.readonly", "read_only"},
    {"hostname", "hostname"},
    {"linux.namespaces", "namespaces"},
    {"linux.uidMappings[].containerID", "uid_mappings[].container_id"},
    {"linux.uidMappings[].hostID", "uid_mappings[].host_id"},
    {"linux.uidMappings", "uid_mappings"},
    {"linux.gidMappings[].containerID", "gid_mappings[].container_id"},
    {"linux.gidMappings[].hostID", "gid_mappings[].host_id"},
    {"linux.gidMappings", "gid_mappings"},
    {"linux.resources.memory.limit", "resources.memory"},
    {"linux.resources.memory.swap", "resources.memory_swap"},
    {"linux.resources.cpu.shares", "resources.cpu_shares"},
    {"linux.resources.cpu.quota", "resources.cpu_quota"},
    {"linux.resources.cpu.period", "resources.cpu_period"},
    {"linux.resources.cpu.cpus", "resources.cpuset_cpus"},
    {"linux.resources.cpu.mems", "resources.cpuset_mems"},
    {"linux.resources.pids.limit", "resources.pids_limit"},
    // The body's devices are both the nodes and (one rule each) the cgroup allow-list.
    {"linux.resources.devices", "devices", false},
    {"linux.devices[].fileMode", "devices[].file_mode"},
    {"linux.devices", "devices"},
    {"mounts", "mounts"},
    {"linux.seccomp", "seccomp"},
    {"truman.seccompDisabled", "seccomp"},
    {"truman.seccompLearn", "seccomp.learn"},
    {"truman.network.hostInterface", "network.host_interface"},
    {"truman.network", "network"},
};

// Matches pattern against the start of path; on success appends the indices "[]" stood for
// to indices and returns how much of path matched.
std::optional<size_t> match(std::string_view pattern, std::string_view path,
                            std::vector<std::string_view>& indices) {
    size_t p = 0, i = 0;
    while (p < pattern.size()) {
        if (pattern.substr(p, 2) == "[]") {
            if (i >= path.size() || path[i] != '[') return std::nullopt;
            size_t close = path.find(']', i);
            if (close == std::string_view::npos || close == i + 1) return std::nullopt;
            indices.push_back(path.substr(i, close + 1 - i));
            p += 2;
            i = close + 1;
        } else {
            if (i >= path.size() || path[i] != pattern[p]) return std::nullopt;
            ++p;
            ++i;
        }
    }
    // A whole component: "hostname" must not match "hostnames".
    if (i < path.size() && path[i] != '.' && path[i] != '[') return std::nullopt;
    return i;
}

}  // namespace

std::optional<std::string> api_field(const std::string& oci_field) {
    for (const FieldName& row : kFieldNames) {
        std::vector<std::string_view> indices;
        auto matched = match(row.oci, oci_field, indices);
        if (!matched) continue;
        std::string out;
        size_t next = 0;
        for (size_t p = 0; p < row.api.size(); ++p) {
            if (row.api.substr(p, 2) == "[]") {
                out += indices.at(next++);
                ++p;
            } else {
                out += row.api[p];
            }
        }
        return row.keep_rest ? out + oci_field.substr(*matched) : out;
    }
    return std::nullopt;
}

Error in_api_terms(const Error& e) {
    if (e.field().empty()) return e;
    auto name = api_field(e.field());
    return name ? e.with_field(*name) : e;
}

}  // namespace truman::api
