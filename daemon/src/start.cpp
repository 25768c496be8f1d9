#include <spdlog/spdlog.h>

#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

void start(ContainerRegistry& registry, const std::string& ref) {
    std::string id;
    ContainerMeta meta;
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        if (entry.stored.state.status != Status::created)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is " +
                            to_string(entry.stored.state.status) + ", not created");
        id = entry.meta.id;
        meta = entry.meta;
    }
    send_monitor_command(registry.socket_of(id), {ControlCommand::Verb::start, 0});
    // The monitor recorded "running" without an fsync, so that this reply need not wait.
    registry.sync_later(registry.paths_of(id).state());
    auto locked = registry.lock();
    Entry* entry = locked.find_id(id);
    // If the container already exited and its monitor watch ran first, that published
    // "start" before "die" (monitor_exited); otherwise it is running now.
    if (!entry || entry->stored.state.status != Status::created) return;
    entry->stored.state.status = Status::running;
    try {
        StoredState on_disk = read_state(registry.paths_of(id));
        entry->stored.state.started_at = on_disk.state.started_at;
        entry->stored.state.pid = on_disk.state.pid;
    } catch (const Error& e) {
        spdlog::error("{}: {}", id, e.what());
    }
    locked.publish("start", meta);
}

}  // namespace truman::daemon::verbs
