#include <sys/utsname.h>

#include <algorithm>

#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

ContainerInfo info_of(ContainerRegistry& registry, const Entry& entry) {
    return {entry.meta.id,      entry.meta.name,
            entry.meta.image,   entry.meta.rootfs,
            entry.meta.cmd,     entry.meta.created_at,
            entry.stored.state, registry.networks().endpoints_of(entry.meta.id)};
}

}  // namespace

std::vector<ContainerInfo> list(ContainerRegistry& registry, std::optional<Status> filter) {
    auto locked = registry.lock();
    std::vector<ContainerInfo> out;
    for (const auto& [id, entry] : locked.entries())
        if (!filter || entry.stored.state.status == *filter)
            out.push_back(info_of(registry, entry));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created_at > b.created_at;  // newest first, like docker ps
    });
    return out;
}

ContainerInfo inspect(ContainerRegistry& registry, const std::string& ref) {
    auto locked = registry.lock();
    return info_of(registry, locked.find(ref));
}

DaemonInfo info(ContainerRegistry& registry) {
    DaemonInfo out;
    utsname u{};
    if (uname(&u) == 0) out.kernel = u.release;
    out.cgroup_mode = registry.cgroup_mode();
    auto locked = registry.lock();
    for (const auto& [id, entry] : locked.entries()) {
        switch (entry.stored.state.status) {
            case Status::created:
                ++out.created;
                break;
            case Status::running:
                ++out.running;
                break;
            case Status::exited:
                ++out.exited;
                break;
        }
    }
    return out;
}

}  // namespace truman::daemon::verbs
