// attach: trumand answers the upgrade and hands the connection itself to the container's
// monitor (SCM_RIGHTS), which then carries the streams. trumand is out of the data path: it
// holds no buffer of a stream, and an attached client stays attached across its restarts.
#include "truman/daemon/exec_store.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

// The id of a container one can attach to: created (attached before start, nothing is
// missed) or running.
std::string attachable(ContainerRegistry& registry, const std::string& ref) {
    auto locked = registry.lock();
    Entry& entry = locked.find(ref);
    if (entry.stored.state.status == Status::exited)
        throw Error(ErrorKind::conflict, EBUSY,
                    "container " + entry.meta.name + " has exited; start it first");
    return entry.meta.id;
}

}  // namespace

void check_attach(ContainerRegistry& registry, const std::string& ref) {
    attachable(registry, ref);
}

void attach(ContainerRegistry& registry, const std::string& ref, const AttachRequest& request,
            Fd connection) {
    std::string id = attachable(registry, ref);
    ControlCommand command{ControlCommand::Verb::attach};
    command.attach = request;
    ask_monitor(registry.socket_of(id), command, 10000, connection.get());
}

ExecInfo start_exec_attached(ContainerRegistry& registry, const std::string& exec_id,
                             const AttachRequest& request, Fd connection) {
    ExecInfo before = inspect_exec(registry, exec_id);
    if (before.pid != 0 || before.exit_code)
        throw make_error(ErrorKind::conflict, "exec " + exec_id + " was already started");
    ControlCommand command{ControlCommand::Verb::exec, 0, exec_id};
    command.attach = request;
    ask_monitor(registry.socket_of(before.container_id), command, 10000, connection.get());
    return inspect_exec(registry, exec_id);
}

}  // namespace truman::daemon::verbs
