// The exec verbs: the service writes an exec's config next to its container, the container's
// monitor runs it and records its exit (exec_store.hpp), and the service reads it back.
#include "truman/exec.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <cerrno>

#include "callbacks.hpp"
#include "monitor_async.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/exec_store.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/daemon/names.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace asio = boost::asio;

namespace truman::daemon::verbs {

namespace {

struct FoundExec {
    std::string container_id;
    ExecPaths paths;
    bool container_running;
};

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Which container holds the exec: from the registry's index, or else (an exec made before a
// restart) its directory, found under the containers the registry knows, and then indexed.
FoundExec find_exec(ContainerRegistry& registry, const std::string& exec_id) {
    if (is_valid_id(exec_id)) {
        auto locked = registry.lock();
        auto found = [&](Entry& entry) {
            return FoundExec{entry.meta.id, ExecPaths(registry.paths_of(entry.meta.id), exec_id),
                             entry.stored.state.status == Status::running};
        };
        if (Entry* entry = locked.exec_container(exec_id)) return found(*entry);
        for (const auto& [id, entry] : locked.entries()) {
            if (!exists(ExecPaths(registry.paths_of(id), exec_id).config())) continue;
            Entry* writable = locked.find_id(id);  // the same entry; nullptr once closed
            if (!writable) break;
            locked.index_exec(*writable, exec_id);
            return found(*writable);
        }
    }
    throw make_error(ErrorKind::not_found, "no such exec: " + exec_id, ENOENT);
}

ExecInfo info_of(const std::string& exec_id, const FoundExec& found) {
    ExecRequest request = read_exec_config(found.paths);
    ExecInfo info;
    info.id = exec_id;
    info.container_id = found.container_id;
    info.cmd = request.cmd;
    info.tty = request.tty;
    if (auto state = read_exec_state(found.paths)) {
        // A monitor that was SIGKILLed could not record the end: the exec died with its
        // container, its exit status unknown.
        info.running = state->running && found.container_running;
        info.pid = state->pid;
        info.exit_code = state->exit_code;
        info.signal = state->signal;
    }
    return info;
}

}  // namespace

std::string create_exec(ContainerRegistry& registry, const std::string& ref,
                        const ExecRequest& request) {
    ExecSpec spec;
    spec.args = request.cmd;
    spec.env = request.env;
    spec.cwd = request.cwd;
    spec.user = request.user;
    std::string container_id;
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        validate(spec);
        if (entry.stored.state.status != Status::running)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is " +
                            to_string(entry.stored.state.status) + ", not running");
        container_id = entry.meta.id;
    }
    std::string id = generate_id();
    ExecPaths paths(registry.paths_of(container_id), id);
    write_exec_config(paths, request);
    registry.sync_later(paths.config());
    // Indexed once its config is there; a container removed meanwhile takes it along.
    auto locked = registry.lock();
    if (Entry* entry = locked.find_id(container_id)) locked.index_exec(*entry, id);
    return id;
}

namespace {

// An exec that may be started: not started before, in a running container.
FoundExec startable_exec(ContainerRegistry& registry, const std::string& exec_id) {
    FoundExec found = find_exec(registry, exec_id);
    if (read_exec_state(found.paths))
        throw make_error(ErrorKind::conflict, "exec " + exec_id + " was already started");
    if (!found.container_running)
        throw make_error(ErrorKind::conflict,
                         "container " + found.container_id + " is not running");
    return found;
}

}  // namespace

ExecInfo start_exec(ContainerRegistry& registry, const std::string& exec_id) {
    FoundExec found = startable_exec(registry, exec_id);
    ask_monitor(registry.socket_of(found.container_id), {ControlCommand::Verb::exec, 0, exec_id});
    registry.sync_later(found.paths.state());
    return info_of(exec_id, found);
}

void run_exec(ContainerRegistry& registry, const std::string& exec_id,
              const std::function<void(std::exception_ptr, ExecInfo)>& done) {
    FoundExec found = startable_exec(registry, exec_id);
    ControlCommand command{ControlCommand::Verb::exec, 0, exec_id};
    command.wait = true;
    async_ask_monitor(registry.io(), registry.socket_of(found.container_id), command,
                      [registry = registry.shared_from_this(), exec_id, found, done](
                          const std::exception_ptr& error, const MonitorReply& reply) {
                          try {
                              if (!error) throw_if_failed(reply);  // the start failed
                              // A monitor that went away after the start left what is on disk to
                              // know.
                              if (error && !read_exec_state(found.paths))
                                  std::rethrow_exception(error);
                              if (error)
                                  spdlog::warn("exec {}: waiting for it: monitor gone", exec_id);
                              // Started (so recorded), and exited: both on disk now.
                              registry->sync_later(found.paths.state());
                              call_safely("run exec", done, nullptr, info_of(exec_id, found));
                          } catch (...) {
                              call_safely("run exec", done, std::current_exception(), ExecInfo{});
                          }
                      });
}

ExecInfo inspect_exec(ContainerRegistry& registry, const std::string& exec_id) {
    return info_of(exec_id, find_exec(registry, exec_id));
}

void wait_exec(ContainerRegistry& registry, const std::string& exec_id,
               const std::function<void(std::exception_ptr, ExecInfo)>& done) {
    FoundExec found = find_exec(registry, exec_id);
    ExecInfo info = info_of(exec_id, found);
    if (!info.running) {
        if (!read_exec_state(found.paths))
            throw make_error(ErrorKind::conflict, "exec " + exec_id + " was not started");
        asio::post(registry.io(), [done, info] { call_safely("wait exec", done, nullptr, info); });
        return;
    }
    async_ask_monitor(registry.io(), registry.socket_of(found.container_id),
                      {ControlCommand::Verb::wait_exec, 0, exec_id},
                      [registry = registry.shared_from_this(), exec_id, done](
                          const std::exception_ptr& error, const MonitorReply&) {
                          // The exit is on disk now; and if the monitor went away meanwhile, what
                          // is on disk is all there is to know.
                          try {
                              ExecInfo info = info_of(exec_id, find_exec(*registry, exec_id));
                              if (error)
                                  spdlog::warn("exec {}: waiting for it: monitor gone", exec_id);
                              call_safely("wait exec", done, nullptr, info);
                          } catch (...) {
                              call_safely("wait exec", done, std::current_exception(), ExecInfo{});
                          }
                      });
}

std::string exec_output(ContainerRegistry& registry, const std::string& exec_id) {
    FoundExec found = find_exec(registry, exec_id);
    if (!exists(found.paths.output())) return "";
    return read_whole_file(found.paths.output());
}

}  // namespace truman::daemon::verbs
