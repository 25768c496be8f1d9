#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "truman/signal_names.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

void kill(ContainerRegistry& registry, const std::string& ref, int signal) {
    if (!is_signal_number(signal))
        throw invalid_argument("signal", unknown_signal_reason(std::to_string(signal)));
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
