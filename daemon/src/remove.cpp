#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "image_verbs.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/daemon/state_store.hpp"
#include "truman/error.hpp"
#include "verbs.hpp"

namespace fs = std::filesystem;

namespace truman::daemon::verbs {

void remove(ContainerRegistry& registry, const std::string& ref, bool force) {
    std::string id;
    bool on_image = false;
    Fd monitor;
    {
        auto locked = registry.lock();
        Entry& entry = locked.find(ref);
        Status status = entry.stored.state.status;
        if (entry.removing)
            throw Error(ErrorKind::conflict, EBUSY,
                        "container " + entry.meta.name + " is already being removed");
        if (status == Status::running && !force)
            throw Error(
                ErrorKind::conflict, EBUSY,
                "container " + entry.meta.name + " is running: stop it first or remove with force");
        if (entry.monitor) {
            monitor = entry.monitor->dup_pidfd();
            if (!monitor) throw system_error("dup monitor pidfd");
        }
        entry.removing = true;
        id = entry.meta.id;
        on_image = !entry.meta.image.empty();
    }
    std::string dir = registry.paths_of(id).dir();
    try {
        if (monitor) {
            // A created container is parked in its namespaces: the monitor kills and destroys
            // it just like a running one.
            try {
                send_monitor_command(registry.socket_of(id), {ControlCommand::Verb::kill, SIGKILL});
            } catch (const Error& e) {
                spdlog::warn("remove {}: kill: {}", id, e.what());  // exiting already
            }
            if (!wait_for_exit(monitor.get(), monitor_exit_timeout_ms))
                throw make_error(ErrorKind::system, "remove " + id + ": monitor did not exit",
                                 ETIMEDOUT);
            monitor.reset();
            registry.monitor_exited(id, nullptr);
        }
        // Out of its name first: a monitor spawned by a trumand that was killed mid-spawn
        // may still be opening monitor.log by that path (posix_spawn's file actions run
        // after the parent is gone), and a file made under remove_all fails it (ENOTEMPTY).
        // After the rename nothing reaches it by name, and its files are removed after the
        // reply (the settled point, background_removal.hpp); a restart removes a leftover.
        std::string doomed = removing_dir_name(dir);
        if (rename(dir.c_str(), doomed.c_str()) < 0 && errno != ENOENT)
            throw system_error("rename " + dir + " to " + doomed);
        registry.remove_later(doomed);
        std::error_code ec;
        fs::remove_all(registry.run_dir_of(id), ec);
        try {
            registry.networks().release(id);
        } catch (const std::exception& e) {
            // Its directory is gone: the next start of trumand drops the lease.
            spdlog::error("remove {}: release its addresses: {}", id, e.what());
        }
    } catch (...) {
        auto locked = registry.lock();
        if (Entry* entry = locked.find_id(id)) entry->removing = false;
        throw;
    }
    registry.destroy_leftover_cgroup(id);
    {
        auto locked = registry.lock();
        if (Entry* entry = locked.find_id(id)) {
            locked.publish("destroy", entry->meta);
            locked.erase(id);
        }
    }
    spdlog::info("removed container {}", id);
    // Its image may have been removed with force while it ran: its layers go with it. Only
    // then, or after a change of tags, can there be anything to collect.
    if (on_image && registry.image_garbage_possible()) collect_image_garbage(registry);
}

}  // namespace truman::daemon::verbs
