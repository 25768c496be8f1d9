// The containers the service knows, mirrored from <state-dir>/containers (and found there
// again after a restart), and what every verb shares: the io_context, the options, the
// cgroups and the event bus. The verbs themselves (verbs.hpp) are functions over it.
//
// One mutex guards every entry, and every look at one goes through a Locked view that holds
// it. Events are published only through that view, so subscribers see a container's events
// in the order its state changed. No monitor command and no wait happens under the lock.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "dir_watch.hpp"
#include "event_bus.hpp"
#include "monitor_watch.hpp"
#include "seccomp_events.hpp"
#include "truman/cgroups.hpp"
#include "truman/daemon/background_removal.hpp"
#include "truman/daemon/batched_sync.hpp"
#include "truman/daemon/images/store.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/daemon/network_store.hpp"
#include "truman/daemon/state_store.hpp"

namespace truman::daemon {

using WaitCallback = std::function<void(std::exception_ptr, ContainerState)>;

struct Entry {
    ContainerMeta meta;
    StoredState stored;
    // The image layers its overlay stacks (their short link names), as its config.json
    // records them: what the image garbage collection keeps, without reading every
    // container's config on each removal. layers_known is false when that file could not be
    // read at start-up: the collection then keeps everything.
    std::vector<std::string> layers;
    bool layers_known = true;
    std::shared_ptr<MonitorWatch> monitor;          // null once the monitor is gone
    std::shared_ptr<SeccompEvents> seccomp_events;  // while the monitor lives
    std::vector<WaitCallback> waiters;
    // Its execs this trumand has created or looked up (the exec index, Locked::exec_container).
    std::vector<std::string> execs;
    bool exit_handled = false;  // die event published, waiters completed
    bool removing = false;
};

class ContainerRegistry : public std::enable_shared_from_this<ContainerRegistry> {
  public:
    ContainerRegistry(boost::asio::io_context& io, ServiceOptions options);

    // Loads every container from disk and watches the monitors still running. Separate from
    // the constructor: watching needs shared_from_this().
    void open();
    // The service object is going away; handlers still queued must not act any more. The
    // containers and their monitors carry on: a new registry finds them again.
    void close();

    class Locked {
      public:
        // The container ref means (id, name or id prefix); throws truman::Error (resolve_ref).
        Entry& find(const std::string& ref);
        // The container with this id; nullptr once it is removed or the registry is closed.
        Entry* find_id(const std::string& id);
        const std::map<std::string, Entry>& entries() const { return registry_.entries_; }

        // The container that holds an exec, from the index of the execs created or looked up
        // since trumand started; nullptr when it is not there (the caller looks on disk).
        Entry* exec_container(const std::string& exec_id);
        void index_exec(Entry& entry, const std::string& exec_id);

        // A container whose monitor just reported it created (create).
        Entry& insert(const ContainerMeta& meta);
        void erase(const std::string& id);
        // The name reserved by reserve_name() is in use by an entry now, or free again.
        void release_name(const std::string& name);
        // Watch the monitor of entry; false if it is gone already.
        bool watch(const std::string& id, Entry& entry);
        void publish(const std::string& type, const ContainerMeta& meta,
                     std::optional<int> exit_code = std::nullopt);
        // The "seccomp" events for what entry's monitor has logged since the last call.
        void publish_denials(Entry& entry);

      private:
        friend class ContainerRegistry;
        explicit Locked(ContainerRegistry& registry)
            : registry_(registry), lock_(registry.mutex_) {}
        ContainerRegistry& registry_;
        std::lock_guard<std::mutex> lock_;
    };
    Locked lock() { return Locked(*this); }

    // The name for a container being created: wanted, unless taken (truman::Error, conflict),
    // or a generated one. Held until release_name().
    std::string reserve_name(const std::optional<std::string>& wanted);

    // The monitor of id is gone (watch is the one that saw it, nullptr when found some other
    // way). Its state.json is final now: record the exit, complete the waiters, tell
    // subscribers. Does nothing the second time.
    void monitor_exited(const std::string& id, const MonitorWatch* watch);
    // After a monitor died without recording the exit, its container's processes may live on
    // in its cgroup: end them and remove it.
    void destroy_leftover_cgroup(const std::string& id);
    // seccomp.log of id has changed: publish its new denials.
    void denials_logged(const std::string& id);
    // For a following log reader: has the container exited (or been removed)?
    bool exited(const std::string& id);

    std::unique_ptr<Subscription> subscribe(std::function<void(const Event&)> on_event) {
        return events_->subscribe(std::move(on_event));
    }

    // The one inotify instance of the service (seccomp.log followers).
    DirWatch& dir_watch() const { return *dir_watch_; }
    boost::asio::io_context& io() const { return io_; }
    const ServiceOptions& options() const { return options_; }
    // The image store (<state-dir>/images); made by open().
    images::ImageStore& image_store() const { return *image_store_; }
    // Pulls hold it shared, an image removal's garbage collection exclusively: a layer a
    // pull has just unpacked, before its image is tagged, belongs to no image yet.
    std::shared_mutex& image_gc_mutex() { return image_gc_mutex_; }
    // Set while a garbage collection waits for image_gc_mutex: it has not looked at the
    // layers in use yet, so it covers every removal before it and another is not needed.
    std::atomic<bool>& image_gc_queued() { return image_gc_queued_; }
    // False only after a collection that left nothing but the layers of tagged images: a
    // container's removal then has nothing to collect. Set again by whatever may leave
    // layers nobody names (an untag, a replaced tag, a pull or an import), under
    // image_gc_mutex; true at start-up (a crash may have left some).
    std::atomic<bool>& image_garbage_possible() { return image_garbage_possible_; }
    const std::string& cgroup_mode() const { return cgroup_mode_; }
    ContainerPaths paths_of(const std::string& id) const {
        return ContainerPaths(containers_dir_ + "/" + id);
    }
    std::string run_dir_of(const std::string& id) const { return options_.run_dir + "/" + id; }
    std::string socket_of(const std::string& id) const { return run_dir_of(id) + "/monitor.sock"; }
    NetworkStore& networks() { return *networks_; }
    // fsync a container record soon, off the reply's path (batched_sync.hpp): meta.json and
    // config.json once create has answered, state.json once the monitor has moved it on.
    void sync_later(const std::string& path) { synced_.add(path); }
    // remove_all a removed container's directory soon, after delete has answered
    // (background_removal.hpp); pending_cleanup() counts those not removed yet.
    void remove_later(std::string dir) { removals_.add(std::move(dir)); }
    size_t pending_cleanup() const { return removals_.pending(); }

    // Names (container_names.cpp): writes the names files of a new container (id, whose
    // record is `record`) and returns the mounts that place them; rewrites the hosts files of
    // containers whose peers changed, and, at start-up, of all (a crash may have interrupted
    // a rewrite, or containers may have gone while trumand was down).
    std::vector<Mount> write_name_files(const std::string& id, const NameRecord& record);
    void refresh_hosts(const std::set<std::string>& ids);
    void refresh_all_hosts();
    // The addresses the containers' config.json files record (NetworkStore::open).
    std::vector<RecordedAddress> recorded_addresses();

  private:
    boost::asio::io_context& io_;
    ServiceOptions options_;
    std::string containers_dir_, images_dir_;
    std::unique_ptr<images::ImageStore> image_store_;
    std::shared_mutex image_gc_mutex_;
    std::atomic<bool> image_gc_queued_{false};
    std::atomic<bool> image_garbage_possible_{true};
    std::unique_ptr<CgroupManager> cgroups_;
    std::string cgroup_mode_;
    std::shared_ptr<EventBus> events_;
    std::shared_ptr<DirWatch> dir_watch_;
    std::unique_ptr<NetworkStore> networks_;
    std::mutex hosts_mutex_;  // one hosts file rewrite at a time, each from the latest leases

    std::mutex mutex_;
    std::map<std::string, Entry> entries_;
    // Each entry's name to its id: lookups by name and the check of a new name, without a scan.
    std::map<std::string, std::string> ids_by_name_;
    std::map<std::string, std::string> container_by_exec_;
    std::set<std::string> reserved_names_;
    std::set<std::string> needs_cgroup_cleanup_;
    bool closed_ = false;
    BackgroundRemoval removals_;
    // Last: its destructor syncs what is still pending while the rest is still there.
    BatchedSync synced_{"containers"};
};

}  // namespace truman::daemon
