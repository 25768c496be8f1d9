// The service never touches a container's processes itself: it asks the container's monitor
// (control socket) and watches the monitor's exit (pidfd), after which the monitor's
// state.json holds the container's final state.
#include "registry.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <filesystem>

#include "callbacks.hpp"
#include "image_verbs.hpp"
#include "monitor_spawn.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/images/local_images.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace truman::daemon {

namespace {

// The layers a container's overlay stacks, from its config.json.
void load_layers(const std::string& config, Entry& entry) {
    try {
        entry.layers =
            verbs::overlay_layers(spec_from_json(nlohmann::json::parse(read_whole_file(config))));
    } catch (const std::exception& e) {
        spdlog::error("container {}: its config: {}; image layers are kept until it is removed",
                      entry.meta.id, e.what());
        entry.layers_known = false;
    }
}

void close_watch(Entry& entry) {
    entry.seccomp_events.reset();
    if (!entry.monitor) return;
    entry.monitor->close();
    entry.monitor.reset();
}

}  // namespace

ContainerRegistry::ContainerRegistry(asio::io_context& io, ServiceOptions options)
    : io_(io),
      options_(std::move(options)),
      events_(std::make_shared<EventBus>(io)),
      dir_watch_(DirWatch::open(io)) {
    if (options_.monitor_path.empty()) options_.monitor_path = default_monitor_path();
    containers_dir_ = options_.state_dir + "/containers";
    images_dir_ = options_.state_dir + "/images";
    NetworkStoreOptions networks;
    networks.dir = options_.state_dir + "/networks";
    networks.pool = options_.network_pool;
    networks.pool_prefix = options_.network_pool_prefix;
    networks.pool6 = options_.network_pool6;
    networks.dns_dir = options_.run_dir + "/dns";
    networks.resolv_conf = options_.resolv_conf;
    networks_ = std::make_unique<NetworkStore>(std::move(networks));
    networks_->on_peers_changed([this](const std::set<std::string>& ids) { refresh_hosts(ids); });
}

void ContainerRegistry::open() {
    for (const auto& dir : {options_.state_dir, containers_dir_, images_dir_, options_.run_dir}) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw make_error(ErrorKind::system, "create " + dir, ec.value());
    }
    chmod(options_.state_dir.c_str(), 0700);
    // Nothing for others; its group's search bit is the DNS servers' way to their names
    // (dns_server.hpp), kept across restarts of trumand.
    struct stat run_dir {};
    mode_t search = stat(options_.run_dir.c_str(), &run_dir) == 0 && run_dir.st_gid != 0
                        ? run_dir.st_mode & S_IXGRP
                        : 0;
    chmod(options_.run_dir.c_str(), 0700 | search);
    image_store_ = std::make_unique<images::ImageStore>(images_dir_);
    try {
        images::ensure_busybox_image(*image_store_, options_.busybox_path);
    } catch (const std::exception& e) {
        spdlog::error("image busybox unavailable: {}", e.what());
    }
    try {
        cgroups_ = detect_cgroups();
        cgroup_mode_ = to_string(cgroups_->mode());
    } catch (const std::exception& e) {
        spdlog::error("cgroups: {}", e.what());
        cgroup_mode_ = "unknown";
    }
    std::vector<std::string> gone;
    std::vector<StoredContainer> stored = load_containers(containers_dir_);
    for (auto& c : stored) {
        if (!c.incomplete) continue;
        // trumand died during create(): nobody knows this id, and its monitor (if any) may
        // still be writing state.json. Stop it; the container is recorded as exited
        // (monitor_exited below) so that it shows up and can be removed.
        spdlog::error("container {}: creation was interrupted; abandoning it", c.meta.id);
        kill_stray_monitor(c.meta.id);
        c.state.state.status = Status::created;
        c.state.monitor_pid = 0;
    }
    {
        auto locked = lock();
        for (auto& c : stored) {
            std::string id = c.meta.id;
            // Monitors may have moved on while trumand was down, and nobody synced that.
            synced_.add(paths_of(id).state());
            Entry& entry = entries_[id];
            entry.meta = std::move(c.meta);
            ids_by_name_[entry.meta.name] = id;
            entry.stored = std::move(c.state);
            load_layers(paths_of(id).config(), entry);
            if (entry.stored.state.status == Status::exited) {
                entry.exit_handled = true;
                continue;
            }
            if (!locked.watch(id, entry)) gone.push_back(id);
        }
    }
    for (const auto& id : gone) monitor_exited(id, nullptr);
    // A lease outlives its container only when trumand died between the two: a container
    // directory is made before its addresses and removed before they are freed.
    networks_->open(
        [this](const std::string& id) {
            std::error_code ec;
            return fs::exists(containers_dir_ + "/" + id, ec);
        },
        recorded_addresses());
    if (!options_.default_network.empty())
        networks_->ensure_default(options_.default_network, default_bridge_name);
    refresh_all_hosts();
    std::lock_guard lock(mutex_);
    spdlog::info("loaded {} containers from {}", entries_.size(), containers_dir_);
}

std::vector<RecordedAddress> ContainerRegistry::recorded_addresses() {
    std::vector<RecordedAddress> out;
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
        try {
            nlohmann::json spec = nlohmann::json::parse(read_whole_file(paths_of(id).config()));
            const nlohmann::json* network = nullptr;
            if (spec.contains("truman") && spec["truman"].contains("network"))
                network = &spec["truman"]["network"];
            if (!network || !network->contains("bridges")) continue;
            for (const auto& b : (*network)["bridges"])
                out.push_back({id, entry.meta.name, b.at("bridge").get<std::string>(),
                               b.at("interface").get<std::string>(),
                               b.at("hostInterface").get<std::string>(),
                               b.at("address").get<std::string>()});
        } catch (const std::exception& e) {
            spdlog::error("container {}: reading its addresses: {}", id, e.what());
        }
    }
    return out;
}

void ContainerRegistry::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    auto shutting_down = std::make_exception_ptr(
        make_error(ErrorKind::system, "the container service is shutting down"));
    for (auto& [id, entry] : entries_) {
        close_watch(entry);
        for (auto& waiter : entry.waiters)
            asio::post(io_,
                       [waiter = std::move(waiter), shutting_down, state = entry.stored.state] {
                           call_safely("wait", waiter, shutting_down, state);
                       });
        entry.waiters.clear();
    }
    events_->close();
    dir_watch_->close();
}

Entry& ContainerRegistry::Locked::find(const std::string& ref) {
    // A whole id, what clients hold most of the time, is found in the map; only a name or an
    // id prefix needs the scan.
    if (auto it = registry_.entries_.find(ref); it != registry_.entries_.end()) return it->second;
    return registry_.entries_.at(resolve_ref(ref, registry_.entries_, registry_.ids_by_name_));
}

Entry* ContainerRegistry::Locked::find_id(const std::string& id) {
    if (registry_.closed_) return nullptr;
    auto it = registry_.entries_.find(id);
    return it == registry_.entries_.end() ? nullptr : &it->second;
}

Entry* ContainerRegistry::Locked::exec_container(const std::string& exec_id) {
    auto it = registry_.container_by_exec_.find(exec_id);
    return it == registry_.container_by_exec_.end() ? nullptr : find_id(it->second);
}

void ContainerRegistry::Locked::index_exec(Entry& entry, const std::string& exec_id) {
    if (registry_.container_by_exec_.emplace(exec_id, entry.meta.id).second)
        entry.execs.push_back(exec_id);
}

Entry& ContainerRegistry::Locked::insert(const ContainerMeta& meta) {
    Entry& entry = registry_.entries_[meta.id];
    entry.meta = meta;
    registry_.ids_by_name_[meta.name] = meta.id;
    return entry;
}

void ContainerRegistry::Locked::erase(const std::string& id) {
    auto it = registry_.entries_.find(id);
    if (it == registry_.entries_.end()) return;
    close_watch(it->second);
    for (const auto& exec_id : it->second.execs) registry_.container_by_exec_.erase(exec_id);
    if (auto name = registry_.ids_by_name_.find(it->second.meta.name);
        name != registry_.ids_by_name_.end() && name->second == id)
        registry_.ids_by_name_.erase(name);
    registry_.entries_.erase(it);
}

void ContainerRegistry::Locked::release_name(const std::string& name) {
    registry_.reserved_names_.erase(name);
}

bool ContainerRegistry::Locked::watch(const std::string& id, Entry& entry) {
    entry.monitor = MonitorWatch::open(registry_.io_, entry.stored.monitor_pid, id);
    if (!entry.monitor) return false;
    entry.monitor->start([self = registry_.shared_from_this(), id](const MonitorWatch* watch) {
        self->monitor_exited(id, watch);
    });
    // Events are news: after a restart, the denials logged while trumand was down are in the
    // log (GET .../seccomp), not replayed as events.
    try {
        auto events = std::make_shared<SeccompEvents>(registry_.paths_of(id).seccomp_log());
        std::weak_ptr<ContainerRegistry> weak = registry_.weak_from_this();
        events->watch =
            registry_.dir_watch_->watch(registry_.paths_of(id).dir(), {"seccomp.log"}, [weak, id] {
                if (auto self = weak.lock()) self->denials_logged(id);
            });
        entry.seccomp_events = std::move(events);
    } catch (const std::exception& e) {
        spdlog::error("container {}: its seccomp denials will not be events: {}", id, e.what());
    }
    return true;
}

void ContainerRegistry::Locked::publish_denials(Entry& entry) {
    if (!entry.seccomp_events) return;
    for (const auto& event : entry.seccomp_events->take(entry.meta.id, entry.meta.name))
        registry_.events_->publish(event);
}

void ContainerRegistry::denials_logged(const std::string& id) {
    auto locked = lock();
    if (Entry* entry = locked.find_id(id)) locked.publish_denials(*entry);
}

// Each subscriber has its own strand: its events arrive in publish order.
void ContainerRegistry::Locked::publish(const std::string& type, const ContainerMeta& meta,
                                        std::optional<int> exit_code) {
    registry_.events_->publish(Event{rfc3339_now(), type, meta.id, meta.name, exit_code});
}

std::string ContainerRegistry::reserve_name(const std::optional<std::string>& wanted) {
    std::lock_guard lock(mutex_);
    auto taken = [&](const std::string& name) -> const Entry* {
        auto it = ids_by_name_.find(name);
        return it == ids_by_name_.end() ? nullptr : &entries_.at(it->second);
    };
    std::string name;
    if (wanted) {
        name = *wanted;
        if (const Entry* other = taken(name))
            throw Error(ErrorKind::conflict, EEXIST,
                        "name: \"" + name + "\" is already in use by container " +
                            other->meta.id.substr(0, 12));
        if (reserved_names_.count(name))
            throw Error(ErrorKind::conflict, EEXIST,
                        "name: \"" + name + "\" is being used by a container being created");
    } else {
        name = generate_name([&](const std::string& n) {
            return taken(n) != nullptr || reserved_names_.count(n) > 0;
        });
    }
    reserved_names_.insert(name);
    return name;
}

void ContainerRegistry::monitor_exited(const std::string& id, const MonitorWatch* watch) {
    std::vector<WaitCallback> waiters;
    ContainerState state;
    {
        auto locked = lock();
        if (closed_) return;
        auto it = entries_.find(id);
        if (it == entries_.end()) return;
        Entry& entry = it->second;
        if (watch && entry.monitor.get() != watch) return;
        // The monitor logged every denial before it exited: they go out before "die".
        locked.publish_denials(entry);
        close_watch(entry);
        if (entry.exit_handled) return;
        bool start_unpublished = entry.stored.state.status == Status::created;
        ContainerPaths paths = paths_of(id);
        try {
            entry.stored = read_state(paths);
        } catch (const Error& e) {
            spdlog::error("{}: {}", id, e.what());
        }
        if (entry.stored.state.status != Status::exited) {
            // SIGKILLed, or crashed: nobody recorded the exit. The container's own processes
            // may live on without it; destroy_leftover_cgroup ends them.
            spdlog::error("container {}: monitor {} died without recording the exit", id,
                          entry.stored.monitor_pid);
            entry.stored.state.status = Status::exited;
            entry.stored.state.exit_code = -1;
            entry.stored.state.pid = 0;
            entry.stored.state.finished_at = rfc3339_now();
            entry.stored.reason = "monitor died without recording the exit";
            try {
                write_state(paths, entry.stored);
            } catch (const Error& e) {
                spdlog::error("{}: {}", id, e.what());
            }
            needs_cgroup_cleanup_.insert(id);
        }
        // The exit as the monitor (or the lines above) recorded it: a power loss keeps it.
        synced_.add(paths.state());
        entry.exit_handled = true;
        waiters = std::move(entry.waiters);
        entry.waiters.clear();
        state = entry.stored.state;
        // Published under the lock so that subscribers see start, oom, die in order.
        if (start_unpublished && !state.started_at.empty()) locked.publish("start", entry.meta);
        if (state.oom_killed) locked.publish("oom", entry.meta);
        locked.publish("die", entry.meta, state.exit_code);
    }
    destroy_leftover_cgroup(id);
    for (auto& waiter : waiters)
        asio::post(io_, [waiter = std::move(waiter), state] {
            call_safely("wait", waiter, nullptr, state);
        });
}

void ContainerRegistry::destroy_leftover_cgroup(const std::string& id) {
    {
        std::lock_guard lock(mutex_);
        if (!needs_cgroup_cleanup_.erase(id)) return;
    }
    if (!cgroups_) return;
    try {
        if (auto cgroup = cgroups_->open(id)) {
            cgroup->kill_all();
            cgroup->destroy();
        }
    } catch (const std::exception& e) {
        spdlog::error("container {}: cgroup cleanup: {}", id, e.what());
    }
}

bool ContainerRegistry::exited(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    return closed_ || it == entries_.end() || it->second.exit_handled;
}

}  // namespace truman::daemon
