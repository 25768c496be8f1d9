// attach: trumand answers the upgrade and hands the connection itself to the container's
// monitor (SCM_RIGHTS), which then carries the streams. trumand is out of the data path: it
// holds no buffer of a stream, and an attached client stays attached across its restarts.
#include "truman/daemon/exec_store.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace truman::daemon::verbs {

namespace {

struct Attachable {
    std::string id;
    bool tty;
};

// A container one can attach to: created (attached before start, nothing is missed) or
// running.
Attachable attachable(ContainerRegistry& registry, const std::string& ref) {
    auto locked = registry.lock();
    Entry& entry = locked.find(ref);
    if (entry.stored.state.status == Status::exited)
        throw Error(ErrorKind::conflict, EBUSY,
                    "container " + entry.meta.name + " has exited; start it first");
    return {entry.meta.id, entry.meta.tty};
}

void check_size(unsigned height, unsigned width) {
    if (height < 1 || height > 65535) throw invalid_argument("h", "must be in 1..65535");
    if (width < 1 || width > 65535) throw invalid_argument("w", "must be in 1..65535");
}

}  // namespace

bool check_attach(ContainerRegistry& registry, const std::string& ref) {
    return attachable(registry, ref).tty;
}

void resize(ContainerRegistry& registry, const std::string& ref, unsigned height, unsigned width) {
    check_size(height, width);
    std::string id;
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        if (!entry.meta.tty)
            throw Error(ErrorKind::conflict, ENOTTY,
                        "container " + entry.meta.name + " has no terminal (created without tty)");
        if (entry.stored.state.status != Status::running)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is not running");
        id = entry.meta.id;
    }
    ControlCommand command{ControlCommand::Verb::resize};
    command.height = height;
    command.width = width;
    send_monitor_command(registry.socket_of(id), command);
}

void resize_exec(ContainerRegistry& registry, const std::string& exec_id, unsigned height,
                 unsigned width) {
    check_size(height, width);
    ExecInfo info = inspect_exec(registry, exec_id);
    if (!info.tty)
        throw Error(ErrorKind::conflict, ENOTTY,
                    "exec " + exec_id + " has no terminal (created without tty)");
    if (!info.running) throw make_error(ErrorKind::conflict, "exec " + exec_id + " is not running");
    ControlCommand command{ControlCommand::Verb::resize, 0, info.id};
    command.height = height;
    command.width = width;
    send_monitor_command(registry.socket_of(info.container_id), command);
}

void attach(ContainerRegistry& registry, const std::string& ref, const AttachRequest& request,
            Fd connection) {
    std::string id = attachable(registry, ref).id;
    ControlCommand command{ControlCommand::Verb::attach};
    command.attach = request;
    try {
        ask_monitor(registry.socket_of(id), command, 10000, connection.get());
    } catch (const Error& e) {
        // It exited after the check: its monitor, gone or going, refused or did not answer.
        // That is the conflict the check would have given a moment later, not a failure of
        // ours; the exit is on disk before the monitor lets go of its socket.
        bool exited = false;
        if (e.kind() != ErrorKind::conflict && e.kind() != ErrorKind::invalid) {
            try {
                exited = read_state(registry.paths_of(id)).state.status == Status::exited;
            } catch (const Error&) {
                // Removed meanwhile, or unreadable: the monitor's own error says more.
            }
        }
        if (exited) throw Error(ErrorKind::conflict, EBUSY, "container " + ref + " has exited");
        throw;
    }
}

void start_exec_attached(ContainerRegistry& registry, const std::string& exec_id,
                         const AttachRequest& request, Fd connection) {
    ExecInfo before = inspect_exec(registry, exec_id);
    if (before.pid != 0 || before.exit_code)
        throw make_error(ErrorKind::conflict, "exec " + exec_id + " was already started");
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(before.container_id);
        if (entry.stored.state.status != Status::running)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is not running");
    }
    ControlCommand command{ControlCommand::Verb::exec, 0, exec_id};
    command.attach = request;
    // Nothing after this: once the monitor holds the connection it has written the 101, and
    // an error from here on would be answered on a connection that is no longer HTTP.
    ask_monitor(registry.socket_of(before.container_id), command, 10000, connection.get());
    registry.sync_later(ExecPaths(registry.paths_of(before.container_id), exec_id).state());
}

}  // namespace truman::daemon::verbs
