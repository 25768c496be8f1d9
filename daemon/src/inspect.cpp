#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "truman/daemon/seccomp_log.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

// Without its networks (with_networks below).
ContainerInfo info_of(const Entry& entry) {
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
    return info;
}

ContainerInfo with_networks(ContainerRegistry& registry, ContainerInfo info) {
    info.networks = registry.networks().endpoints_of(info.id);
    info.ports = registry.networks().ports_of(info.id);
    return info;
}

// The monitor creates seccomp.log at the first denial.
bool seccomp_denied(ContainerRegistry& registry, const std::string& id) {
    return access(registry.paths_of(id).seccomp_log().c_str(), F_OK) == 0;
}

}  // namespace

std::vector<ContainerInfo> list(ContainerRegistry& registry, std::optional<Status> filter) {
    std::vector<ContainerInfo> out;
    {
        auto locked = registry.lock();
        for (const auto& [id, entry] : locked.entries())
            if (!filter || entry.stored.state.status == *filter) out.push_back(info_of(entry));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created_at > b.created_at;  // newest first, like docker ps
    });
    auto attachments = registry.networks().attachments();
    for (auto& info : out) {
        if (auto it = attachments.find(info.id); it != attachments.end()) {
            info.networks = std::move(it->second.endpoints);
            info.ports = std::move(it->second.ports);
        }
        info.seccomp_denied = seccomp_denied(registry, info.id);
    }
    return out;
}

ContainerInfo inspect(ContainerRegistry& registry, const std::string& ref) {
    ContainerInfo info = [&] {
        auto locked = registry.lock();
        return info_of(locked.find(ref));
    }();
    info = with_networks(registry, std::move(info));
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
