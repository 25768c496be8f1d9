// GET /v1/containers/{id}/seccomp/profile: what the container's monitor saw in learning mode
// (seccomp-learned.json), made into a profile by core's learned_seccomp_profile().
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/seccomp_learned.hpp"
#include "truman/error.hpp"
#include "truman/seccomp.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

Seccomp seccomp_profile(ContainerRegistry& registry, const std::string& ref) {
    std::string id = registry.lock().find(ref).meta.id;
    ContainerPaths paths = registry.paths_of(id);
    ContainerSpec spec = spec_from_json(nlohmann::json::parse(read_whole_file(paths.config())));
    if (!spec.linux.seccomp_learn)
        throw make_error(ErrorKind::conflict,
                         "container " + id +
                             " was not created in seccomp learning mode (\"seccomp\": "
                             "{\"learn\": true})");
    std::set<std::string> seen;
    for (const auto& call : read_learned_syscalls(paths.seccomp_learned())) seen.insert(call.name);
    return learned_seccomp_profile(
        spec.linux.seccomp ? *spec.linux.seccomp : default_seccomp_profile(), seen);
}

}  // namespace truman::daemon::verbs
