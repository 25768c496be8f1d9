#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

void kill(ContainerRegistry& registry, const std::string& ref, int signal) {
    if (signal < 1 || signal > 64)
        throw invalid_argument("signal", std::to_string(signal) + " is not a signal 1..64");
    std::string id;
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        if (entry.stored.state.status != Status::running)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is not running");
        id = entry.meta.id;
        // Before the signal is sent, so that "kill" precedes the "die" it may cause.
        locked.publish("kill", entry.meta);
    }
    send_monitor_command(registry.socket_of(id), {ControlCommand::Verb::kill, signal});
}

}  // namespace truman::daemon::verbs
