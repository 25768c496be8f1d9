#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "truman/daemon/seccomp_log.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

ContainerInfo info_of(ContainerRegistry& registry, const Entry& entry) {
    ContainerInfo info;
    info.id = entry.meta.id;
    info.name = entry.meta.name;
    info.image = entry.meta.image;
    info.rootfs = entry.meta.rootfs;
    info.cmd = entry.meta.cmd;
    info.created_at = entry.meta.created_at;
    info.labels = entry.meta.labels;
    info.exposed_ports = entry.meta.exposed_ports;
    if (entry.meta.stop_signal != 0) info.stop_signal = entry.meta.stop_signal;
    info.state = entry.stored.state;
    info.networks = registry.networks().endpoints_of(entry.meta.id);
    info.ports = registry.networks().ports_of(entry.meta.id);
    return info;
}

// The monitor creates seccomp.log at the first denial.
bool seccomp_denied(ContainerRegistry& registry, const std::string& id) {
    return access(registry.paths_of(id).seccomp_log().c_str(), F_OK) == 0;
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
    for (auto& info : out) info.seccomp_denied = seccomp_denied(registry, info.id);
    return out;
}

ContainerInfo inspect(ContainerRegistry& registry, const std::string& ref) {
    ContainerInfo info = [&] {
        auto locked = registry.lock();
        return info_of(registry, locked.find(ref));
    }();
    // Read outside the lock: up to two files of 1 MiB.
    info.seccomp_denials =
        seccomp_denial_counts(read_seccomp_log(registry.paths_of(info.id).seccomp_log()));
    info.seccomp_denied = !info.seccomp_denials.empty();
    return info;
}

DaemonInfo info(ContainerRegistry& registry) {
    DaemonInfo out;
    utsname u{};
    if (uname(&u) == 0) out.kernel = u.release;
    out.cgroup_mode = registry.cgroup_mode();
    out.pending_cleanup = registry.pending_cleanup();
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
