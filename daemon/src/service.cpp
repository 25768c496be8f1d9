// The container service: a registry of containers mirrored from disk, each one driven by its
// own truman-monitor process. The service never touches a container's processes itself; it
// asks the monitor (control socket) and watches the monitor's exit (pidfd), after which the
// monitor's state.json holds the container's final state.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "monitor_spawn.hpp"
#include "truman/cgroups.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/container_log.hpp"
#include "truman/daemon/image_store.hpp"
#include "truman/daemon/make_service.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/daemon/names.hpp"
#include "truman/daemon/state_store.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace truman::daemon {

namespace {

using WaitCallback = std::function<void(std::exception_ptr, ContainerState)>;

constexpr int remove_wait_ms = 15000;
constexpr auto log_poll_interval = std::chrono::milliseconds(75);

int pidfd_open(pid_t pid) {
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Is pid (still) the monitor of container id? A PID can be reused once the monitor is gone.
bool is_monitor_of(pid_t pid, const std::string& id) {
    std::string cmdline;
    try {
        cmdline = read_whole_file("/proc/" + std::to_string(pid) + "/cmdline");
    } catch (const Error&) {
        return false;
    }
    return cmdline.find("truman-monitor") != std::string::npos &&
           cmdline.find(id) != std::string::npos;
}

// A caller's callback runs on the io_context: an exception from it must not unwind through
// io_context::run() and take the daemon's io thread down with it.
template <typename Fn, typename... Args>
void call_safely(const char* what, const Fn& fn, Args&&... args) {
    try {
        fn(std::forward<Args>(args)...);
    } catch (const std::exception& e) {
        spdlog::error("{} callback threw: {}", what, e.what());
    } catch (...) {
        spdlog::error("{} callback threw", what);
    }
}

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        return n > 0;
    }
}

struct Entry {
    ContainerMeta meta;
    StoredState stored;
    std::shared_ptr<asio::posix::stream_descriptor> monitor;  // pidfd; null once it is gone
    std::vector<WaitCallback> waiters;
    bool exit_handled = false;  // die event published, waiters completed
    bool removing = false;
};

struct EventSink {
    EventSink(asio::io_context& io, std::function<void(const Event&)> cb)
        : strand(asio::make_strand(io)), callback(std::move(cb)) {}
    asio::strand<asio::io_context::executor_type> strand;
    std::function<void(const Event&)> callback;
    std::atomic<bool> active{true};
};

class Core;

class LogStream : public std::enable_shared_from_this<LogStream> {
  public:
    LogStream(asio::io_context& io, std::weak_ptr<Core> core, std::string id, std::string path,
              LogOptions options, std::function<void(const LogLine&)> on_line,
              std::function<void()> on_end)
        : strand_(asio::make_strand(io)),
          timer_(strand_),
          core_(std::move(core)),
          id_(std::move(id)),
          reader_(std::move(path)),
          options_(options),
          on_line_(std::move(on_line)),
          on_end_(std::move(on_end)) {}

    void begin() {
        asio::post(strand_, [self = shared_from_this()] { self->first_batch(); });
    }

    void cancel() {
        cancelled_ = true;
        asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
    }

  private:
    void first_batch() {
        if (cancelled_) return;
        bool done = !options_.follow || container_done();
        deliver(filter_log_lines(reader_.read_available(), options_));
        if (done) return finish();
        schedule();
    }

    void tick() {
        if (cancelled_) return;
        // Checked before reading: the monitor writes every log line before it exits.
        bool done = container_done();
        std::vector<LogLine> lines;
        for (auto& line : reader_.read_available())
            if (wants_stream(options_, line.stream)) lines.push_back(std::move(line));
        deliver(lines);
        if (done) return finish();
        schedule();
    }

    void schedule() {
        timer_.expires_after(log_poll_interval);
        timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) self->tick();
        });
    }

    void deliver(const std::vector<LogLine>& lines) {
        for (const auto& line : lines) {
            if (cancelled_) return;
            call_safely("logs", on_line_, line);
        }
    }

    void finish() {
        if (!cancelled_ && on_end_) call_safely("logs", on_end_);
    }

    bool container_done();

    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer timer_;
    std::weak_ptr<Core> core_;
    std::string id_;
    LogReader reader_;
    LogOptions options_;
    std::function<void(const LogLine&)> on_line_;
    std::function<void()> on_end_;
    std::atomic<bool> cancelled_{false};
};

class LogSubscription : public Subscription {
  public:
    explicit LogSubscription(std::shared_ptr<LogStream> stream) : stream_(std::move(stream)) {}
    ~LogSubscription() override {
        try {
            cancel();
        } catch (...) {  // a destructor must not throw; the stream ends with the io_context
        }
    }
    void cancel() override {
        if (stream_) stream_->cancel();
        stream_.reset();
    }

  private:
    std::shared_ptr<LogStream> stream_;
};

class Core : public std::enable_shared_from_this<Core> {
  public:
    Core(asio::io_context& io, ServiceOptions options) : io_(io), options_(std::move(options)) {
        if (options_.monitor_path.empty()) options_.monitor_path = default_monitor_path();
        containers_dir_ = options_.state_dir + "/containers";
        images_dir_ = options_.state_dir + "/images";
    }

    // Separate from the constructor: watching monitors needs shared_from_this().
    void open() {
        for (const auto& dir :
             {options_.state_dir, containers_dir_, images_dir_, options_.run_dir}) {
            std::error_code ec;
            fs::create_directories(dir, ec);
            if (ec) throw make_error(ErrorKind::system, "create " + dir, ec.value());
        }
        chmod(options_.state_dir.c_str(), 0700);
        chmod(options_.run_dir.c_str(), 0700);
        try {
            ensure_busybox_image(images_dir_, options_.busybox_path);
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
            // trumand died during create(): nobody knows this id, and its monitor (if any)
            // may still be writing state.json. Stop it; the container is recorded as exited
            // (monitor_exited below) so that it shows up and can be removed.
            spdlog::error("container {}: creation was interrupted; abandoning it", c.meta.id);
            kill_stray_monitor(c.meta.id);
            c.state.state.status = Status::created;
            c.state.monitor_pid = 0;
        }
        {
            std::lock_guard lock(mutex_);
            for (auto& c : stored) {
                std::string id = c.meta.id;
                Entry& entry = entries_[id];
                entry.meta = std::move(c.meta);
                entry.stored = std::move(c.state);
                if (entry.stored.state.status == Status::exited) {
                    entry.exit_handled = true;
                    continue;
                }
                if (!watch_monitor(id, entry)) gone.push_back(id);
            }
        }
        for (const auto& id : gone) monitor_exited(id, nullptr);
        std::lock_guard lock(mutex_);
        spdlog::info("loaded {} containers from {}", entries_.size(), containers_dir_);
    }

    // The service object is going away; handlers still queued must not act any more. The
    // containers and their monitors carry on: a new service finds them again.
    void close() {
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
        for (auto& [n, sink] : sinks_) sink->active = false;
        sinks_.clear();
    }

    std::string create(const CreateRequest& request) {
        ContainerSpec spec = request.spec;
        if (request.name) validate_name(*request.name);
        if (!request.image.empty() && !spec.root.path.empty())
            throw invalid_argument("image", "give an image or a rootfs, not both");
        if (request.image.empty() && spec.root.path.empty())
            throw invalid_argument("image", "give an image or a rootfs");
        if (spec.root.overlay)
            throw invalid_argument("root.overlay", "is set by the daemon for image containers");
        std::string image_rootfs;
        // Errors name "rootfs": what the API calls spec.root.path for a container without an
        // image.
        if (!request.image.empty()) {
            auto found = find_image(images_dir_, request.image);
            if (!found)
                throw Error(ErrorKind::not_found, ENOENT, "no such image: " + request.image);
            image_rootfs = *found;
        } else {
            if (spec.root.path[0] != '/')
                throw invalid_argument("rootfs", "must be an absolute path");
            struct stat st {};
            if (stat(spec.root.path.c_str(), &st) < 0) {
                int err = errno;
                throw make_error(err == ENOENT ? ErrorKind::not_found : ErrorKind::system,
                                 "rootfs: " + spec.root.path, err);
            }
            if (!S_ISDIR(st.st_mode))
                throw invalid_argument("rootfs", spec.root.path + " is not a directory");
        }

        std::string id = generate_id();
        std::string name = reserve_name(request.name);
        ContainerPaths paths(containers_dir_ + "/" + id);
        // Undo everything unless the monitor reported success.
        struct Cleanup {
            Core* core;
            std::string name, dir;
            bool armed = true;
            ~Cleanup() {
                if (!armed) return;
                std::error_code ec;
                fs::remove_all(dir, ec);
                std::lock_guard lock(core->mutex_);
                core->reserved_names_.erase(name);
            }
        } cleanup{this, name, paths.dir()};

        if (mkdir(paths.dir().c_str(), 0700) < 0) throw system_error("mkdir " + paths.dir());
        if (!image_rootfs.empty()) {
            for (const auto& d : {paths.upper(), paths.work(), paths.rootfs()})
                if (mkdir(d.c_str(), 0755) < 0) throw system_error("mkdir " + d);
            spec.root.path = paths.rootfs();
            spec.root.overlay = Overlay{image_rootfs, paths.upper(), paths.work()};
        }
        // Like Docker: a container's hostname is its short id unless told otherwise.
        if (spec.hostname.empty() && spec.has_namespace(NamespaceType::uts))
            spec.hostname = id.substr(0, 12);
        validate(spec);

        ContainerMeta meta{id,           name, request.image, spec.root.path, spec.process.args,
                           rfc3339_now()};
        write_file_atomic(paths.config(), spec_to_json(spec).dump(2) + "\n");
        write_meta(paths, meta);

        MonitorLaunch launch;
        launch.monitor_path = options_.monitor_path;
        launch.container_dir = paths.dir();
        launch.run_dir = run_dir_of(id);
        launch.log_file = paths.monitor_log();
        launch.log_max_bytes = options_.log_max_bytes;
        MonitorReply report = spawn_monitor(launch);
        throw_if_failed(report);

        {
            std::lock_guard lock(mutex_);
            Entry& entry = entries_[id];
            entry.meta = meta;
            try {
                entry.stored = read_state(paths);
            } catch (const Error& e) {
                spdlog::error("{}: {}", id, e.what());
                entry.stored.state.status = Status::created;
                entry.stored.state.pid = report.pid;
                entry.stored.monitor_pid = report.monitor_pid;
            }
            reserved_names_.erase(name);
            cleanup.armed = false;
            publish_locked("create", meta);
            if (!watch_monitor(id, entry))
                asio::post(io_,
                           [self = shared_from_this(), id] { self->monitor_exited(id, nullptr); });
        }
        spdlog::info("created container {} ({})", id, name);
        return id;
    }

    std::vector<ContainerInfo> list(std::optional<Status> filter) {
        std::lock_guard lock(mutex_);
        std::vector<ContainerInfo> out;
        for (const auto& [id, entry] : entries_)
            if (!filter || entry.stored.state.status == *filter) out.push_back(info_of(entry));
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
            return a.created_at > b.created_at;  // newest first, like docker ps
        });
        return out;
    }

    ContainerInfo inspect(const std::string& ref) {
        std::lock_guard lock(mutex_);
        return info_of(entries_.at(resolve(ref)));
    }

    void start(const std::string& ref) {
        std::string id, socket;
        ContainerMeta meta;
        {
            std::lock_guard lock(mutex_);
            id = resolve(ref);
            Entry& entry = entries_.at(id);
            if (entry.stored.state.status != Status::created)
                throw Error(ErrorKind::conflict, EBUSY,
                            "container " + entry.meta.name + " is " +
                                to_string(entry.stored.state.status) + ", not created");
            socket = socket_of(id);
            meta = entry.meta;
        }
        send_monitor_command(socket, {ControlCommand::Verb::start, 0});
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(id);
            // If the container already exited and its monitor watch ran first, that published
            // "start" before "die" (monitor_exited); otherwise it is running now.
            if (it != entries_.end() && it->second.stored.state.status == Status::created) {
                it->second.stored.state.status = Status::running;
                try {
                    StoredState on_disk = read_state(ContainerPaths(containers_dir_ + "/" + id));
                    it->second.stored.state.started_at = on_disk.state.started_at;
                    it->second.stored.state.pid = on_disk.state.pid;
                } catch (const Error& e) {
                    spdlog::error("{}: {}", id, e.what());
                }
                publish_locked("start", meta);
            }
        }
    }

    void kill(const std::string& ref, int signal) {
        if (signal < 1 || signal > 64)
            throw invalid_argument("signal", std::to_string(signal) + " is not a signal 1..64");
        std::string id, socket;
        {
            std::lock_guard lock(mutex_);
            id = resolve(ref);
            Entry& entry = entries_.at(id);
            if (entry.stored.state.status != Status::running)
                throw Error(ErrorKind::conflict, EBUSY,
                            "container " + entry.meta.name + " is not running");
            socket = socket_of(id);
            // Before the signal is sent, so that "kill" precedes the "die" it may cause.
            publish_locked("kill", entry.meta);
        }
        send_monitor_command(socket, {ControlCommand::Verb::kill, signal});
    }

    void async_stop(const std::string& ref, std::chrono::seconds timeout,
                    std::function<void(std::exception_ptr)> done) {
        std::string id, socket;
        ContainerMeta meta;
        auto timer = std::make_shared<asio::steady_timer>(io_);
        {
            std::lock_guard lock(mutex_);
            id = resolve(ref);
            Entry& entry = entries_.at(id);
            if (entry.stored.state.status != Status::running) {
                asio::post(io_, [done] { call_safely("stop", done, nullptr); });
                return;
            }
            socket = socket_of(id);
            meta = entry.meta;
            entry.waiters.push_back([timer, done](std::exception_ptr error, ContainerState) {
                timer->cancel();
                call_safely("stop", done, error);
            });
            publish_locked("kill", meta);
        }
        try {
            send_monitor_command(socket, {ControlCommand::Verb::kill, SIGTERM});
        } catch (const Error& e) {
            // Most likely it exited meanwhile: the waiter completes then. If not, SIGKILL
            // after the timeout still applies.
            spdlog::warn("stop {}: SIGTERM: {}", id, e.what());
        }
        timer->expires_after(timeout);
        timer->async_wait(
            [self = shared_from_this(), id, socket, meta](boost::system::error_code ec) {
                if (ec) return;
                {
                    std::lock_guard lock(self->mutex_);
                    auto it = self->entries_.find(id);
                    if (self->closed_ || it == self->entries_.end() || it->second.exit_handled)
                        return;
                    self->publish_locked("kill", meta);
                }
                try {
                    send_monitor_command(socket, {ControlCommand::Verb::kill, SIGKILL});
                } catch (const Error& e) {
                    spdlog::warn("stop {}: SIGKILL: {}", id, e.what());
                }
            });
    }

    void remove(const std::string& ref, bool force) {
        std::string id, socket;
        Fd monitor;
        Status status;
        {
            std::lock_guard lock(mutex_);
            id = resolve(ref);
            Entry& entry = entries_.at(id);
            status = entry.stored.state.status;
            if (entry.removing)
                throw Error(ErrorKind::conflict, EBUSY,
                            "container " + entry.meta.name + " is already being removed");
            if (status == Status::running && !force)
                throw Error(ErrorKind::conflict, EBUSY,
                            "container " + entry.meta.name +
                                " is running: stop it first or remove with force");
            if (entry.monitor) {
                monitor = Fd(fcntl(entry.monitor->native_handle(), F_DUPFD_CLOEXEC, 0));
                if (!monitor) throw system_error("dup monitor pidfd");
            }
            entry.removing = true;
            socket = socket_of(id);
        }
        try {
            if (monitor) {
                // A created container is parked in its namespaces: the monitor kills and
                // destroys it just like a running one.
                try {
                    send_monitor_command(socket, {ControlCommand::Verb::kill, SIGKILL});
                } catch (const Error& e) {
                    spdlog::warn("remove {}: kill: {}", id, e.what());  // exiting already
                }
                if (!wait_readable(monitor.get(), remove_wait_ms))
                    throw make_error(ErrorKind::system, "remove " + id + ": monitor did not exit",
                                     ETIMEDOUT);
                monitor.reset();
                monitor_exited(id, nullptr);
            }
            std::error_code ec;
            fs::remove_all(containers_dir_ + "/" + id, ec);
            if (ec)
                throw make_error(ErrorKind::system, "remove " + containers_dir_ + "/" + id,
                                 ec.value());
            fs::remove_all(run_dir_of(id), ec);
        } catch (...) {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(id);
            if (it != entries_.end()) it->second.removing = false;
            throw;
        }
        destroy_leftover_cgroup(id);
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(id);
            publish_locked("destroy", it->second.meta);
            close_watch(it->second);
            entries_.erase(it);
        }
        spdlog::info("removed container {}", id);
    }

    void async_wait(const std::string& ref, WaitCallback done) {
        std::lock_guard lock(mutex_);
        Entry& entry = entries_.at(resolve(ref));
        if (entry.exit_handled) {
            asio::post(io_, [done, state = entry.stored.state] {
                call_safely("wait", done, nullptr, state);
            });
            return;
        }
        entry.waiters.push_back(std::move(done));
    }

    std::unique_ptr<Subscription> logs(const std::string& ref, const LogOptions& options,
                                       std::function<void(const LogLine&)> on_line,
                                       std::function<void()> on_end) {
        std::string id;
        {
            std::lock_guard lock(mutex_);
            id = resolve(ref);
        }
        auto stream = std::make_shared<LogStream>(io_, weak_from_this(), id,
                                                  ContainerPaths(containers_dir_ + "/" + id).log(),
                                                  options, std::move(on_line), std::move(on_end));
        stream->begin();
        return std::make_unique<LogSubscription>(stream);
    }

    std::unique_ptr<Subscription> events(std::function<void(const Event&)> on_event) {
        auto sink = std::make_shared<EventSink>(io_, std::move(on_event));
        uint64_t key;
        {
            std::lock_guard lock(mutex_);
            key = next_sink_++;
            sinks_[key] = sink;
        }
        class EventSubscription : public Subscription {
          public:
            EventSubscription(std::weak_ptr<Core> core, std::shared_ptr<EventSink> sink,
                              uint64_t key)
                : core_(std::move(core)), sink_(std::move(sink)), key_(key) {}
            ~EventSubscription() override {
                try {
                    cancel();
                } catch (...) {  // the sink is inactive already; a destructor must not throw
                }
            }
            void cancel() override {
                sink_->active = false;
                if (auto core = core_.lock()) {
                    std::lock_guard lock(core->mutex_);
                    core->sinks_.erase(key_);
                }
            }

          private:
            std::weak_ptr<Core> core_;
            std::shared_ptr<EventSink> sink_;
            uint64_t key_;
        };
        return std::make_unique<EventSubscription>(weak_from_this(), sink, key);
    }

    DaemonInfo info() {
        DaemonInfo out;
        utsname u{};
        if (uname(&u) == 0) out.kernel = u.release;
        out.cgroup_mode = cgroup_mode_;
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_) {
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

    // For a following log reader: has the container exited (or been removed)?
    bool exited(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        return closed_ || it == entries_.end() || it->second.exit_handled;
    }

  private:
    std::string run_dir_of(const std::string& id) const { return options_.run_dir + "/" + id; }
    std::string socket_of(const std::string& id) const { return run_dir_of(id) + "/monitor.sock"; }

    // Under mutex_.
    std::string resolve(const std::string& ref) const {
        std::vector<IdAndName> all;
        all.reserve(entries_.size());
        for (const auto& [id, entry] : entries_) all.push_back({id, entry.meta.name});
        return resolve_ref(ref, all);
    }

    std::string reserve_name(const std::optional<std::string>& wanted) {
        std::lock_guard lock(mutex_);
        auto taken = [&](const std::string& name) -> const Entry* {
            for (const auto& [other, entry] : entries_)
                if (entry.meta.name == name) return &entry;
            return nullptr;
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

    // Under mutex_. Start watching the monitor's exit; false if it is already gone.
    bool watch_monitor(const std::string& id, Entry& entry) {
        pid_t pid = entry.stored.monitor_pid;
        if (pid <= 0) return false;
        int fd = pidfd_open(pid);
        if (fd < 0) return false;
        // Checked after pidfd_open: the pidfd pins the process, so this cannot be a PID that
        // is reused after the check.
        if (!is_monitor_of(pid, id)) {
            ::close(fd);
            return false;
        }
        auto descriptor = std::make_shared<asio::posix::stream_descriptor>(io_, fd);
        entry.monitor = descriptor;
        arm_watch(id, descriptor);
        // The reactor registers the pidfd edge-triggered and a wait does not look for itself:
        // an exit between the registration and the queued wait would be an edge nobody sees.
        // monitor_exited is idempotent, so a second report is harmless.
        if (wait_readable(fd, 0))
            asio::post(io_, [self = shared_from_this(), id, descriptor] {
                self->monitor_exited(id, descriptor.get());
            });
        return true;
    }

    // Under mutex_ (or before anyone else can see descriptor).
    void arm_watch(const std::string& id,
                   const std::shared_ptr<asio::posix::stream_descriptor>& descriptor) {
        descriptor->async_wait(
            asio::posix::stream_descriptor::wait_read,
            [self = shared_from_this(), id, descriptor](boost::system::error_code ec) {
                if (ec) return;  // closed: removed, or the service shut down
                if (self->monitor_still_running(id, descriptor)) return;
                self->monitor_exited(id, descriptor.get());
            });
    }

    // A completed async_wait is not proof that the monitor exited. Asio's epoll reactor
    // recycles its per-descriptor state objects, and a readiness event fetched for a socket
    // that another thread closes meanwhile can be delivered to the state now reused for this
    // pidfd; a wait operation, unlike a read, completes on any event without a syscall to
    // check. Seen as 1-2 "monitor died" of 50 concurrent lifecycles whose log connections
    // churned sockets, after which the leftover-cgroup cleanup SIGKILLed the live container.
    // So ask the pidfd itself (readable only once the process has exited), and re-arm if not.
    bool monitor_still_running(const std::string& id,
                               const std::shared_ptr<asio::posix::stream_descriptor>& descriptor) {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        if (closed_ || it == entries_.end() || it->second.monitor != descriptor) return false;
        if (wait_readable(descriptor->native_handle(), 0)) return false;
        spdlog::debug("container {}: spurious wake-up of the monitor watch", id);
        arm_watch(id, descriptor);
        return true;
    }

    // Find the monitor of id by its command line (there is no state.json with its PID) and
    // SIGKILL it through a pidfd, so the PID cannot be reused between the check and the kill.
    static void kill_stray_monitor(const std::string& id) {
        std::error_code ec;
        for (const auto& proc : fs::directory_iterator("/proc", ec)) {
            std::string name = proc.path().filename();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            pid_t pid = std::stoi(name);
            if (!is_monitor_of(pid, id)) continue;
            Fd fd(pidfd_open(pid));
            if (!fd || !is_monitor_of(pid, id)) continue;
            syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
            wait_readable(fd.get(), remove_wait_ms);
        }
    }

    static void close_watch(Entry& entry) {
        if (!entry.monitor) return;
        boost::system::error_code ec;
        entry.monitor->cancel(ec);
        entry.monitor->close(ec);
        entry.monitor.reset();
    }

    // The monitor of id is gone (watch is the descriptor that fired, nullptr when found some
    // other way). Its state.json is final now; complete the waiters and tell subscribers.
    void monitor_exited(const std::string& id, asio::posix::stream_descriptor* watch) {
        std::vector<WaitCallback> waiters;
        ContainerState state;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return;
            auto it = entries_.find(id);
            if (it == entries_.end()) return;
            Entry& entry = it->second;
            if (watch && entry.monitor.get() != watch) return;
            close_watch(entry);
            if (entry.exit_handled) return;
            bool start_unpublished = entry.stored.state.status == Status::created;
            ContainerPaths paths(containers_dir_ + "/" + id);
            try {
                entry.stored = read_state(paths);
            } catch (const Error& e) {
                spdlog::error("{}: {}", id, e.what());
            }
            if (entry.stored.state.status != Status::exited) {
                // SIGKILLed, or crashed: nobody recorded the exit. The container's own
                // processes may live on without it; destroy_leftover_cgroup ends them.
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
            entry.exit_handled = true;
            waiters = std::move(entry.waiters);
            entry.waiters.clear();
            state = entry.stored.state;
            // Published under the lock so that subscribers see start, oom, die in order.
            if (start_unpublished && !state.started_at.empty()) publish_locked("start", entry.meta);
            if (state.oom_killed) publish_locked("oom", entry.meta);
            publish_locked("die", entry.meta, state.exit_code);
        }
        destroy_leftover_cgroup(id);
        for (auto& waiter : waiters)
            asio::post(io_, [waiter = std::move(waiter), state] {
                call_safely("wait", waiter, nullptr, state);
            });
    }

    void destroy_leftover_cgroup(const std::string& id) {
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

    // Under mutex_. Each subscriber has its own strand: its events arrive in publish order.
    void publish_locked(const std::string& type, const ContainerMeta& meta,
                        std::optional<int> exit_code = std::nullopt) {
        Event event{rfc3339_now(), type, meta.id, meta.name, exit_code};
        for (const auto& [key, sink] : sinks_) {
            asio::post(sink->strand, [sink = sink, event] {
                if (sink->active) call_safely("events", sink->callback, event);
            });
        }
    }

    static ContainerInfo info_of(const Entry& entry) {
        return {entry.meta.id,  entry.meta.name,       entry.meta.image,  entry.meta.rootfs,
                entry.meta.cmd, entry.meta.created_at, entry.stored.state};
    }

    asio::io_context& io_;
    ServiceOptions options_;
    std::string containers_dir_, images_dir_;
    std::unique_ptr<CgroupManager> cgroups_;
    std::string cgroup_mode_;

    std::mutex mutex_;
    std::map<std::string, Entry> entries_;
    std::set<std::string> reserved_names_;
    std::set<std::string> needs_cgroup_cleanup_;
    std::map<uint64_t, std::shared_ptr<EventSink>> sinks_;
    uint64_t next_sink_ = 0;
    bool closed_ = false;

    friend class LogStream;
};

bool LogStream::container_done() {
    auto core = core_.lock();
    return !core || core->exited(id_);
}

class Service : public ContainerService {
  public:
    Service(asio::io_context& io, const ServiceOptions& options)
        : io_(io), core_(std::make_shared<Core>(io, options)) {
        core_->open();
    }
    ~Service() override { core_->close(); }

    std::string create(const CreateRequest& request) override { return core_->create(request); }
    std::vector<ContainerInfo> list(std::optional<Status> filter) override {
        return core_->list(filter);
    }
    ContainerInfo inspect(const std::string& ref) override { return core_->inspect(ref); }
    void start(const std::string& ref) override { core_->start(ref); }
    void kill(const std::string& ref, int signal) override { core_->kill(ref, signal); }
    // The asynchronous calls report every error, an unknown ref included, through their
    // callback (on the io_context), so a caller has one place to handle them.
    void async_stop(const std::string& ref, std::chrono::seconds timeout,
                    std::function<void(std::exception_ptr)> done) override {
        try {
            core_->async_stop(ref, timeout, done);
        } catch (const std::exception&) {
            asio::post(io_, [done, error = std::current_exception()] {
                call_safely("stop", done, error);
            });
        }
    }
    void remove(const std::string& ref, bool force) override { core_->remove(ref, force); }
    void async_wait(const std::string& ref, WaitCallback done) override {
        try {
            core_->async_wait(ref, done);
        } catch (const std::exception&) {
            asio::post(io_, [done, error = std::current_exception()] {
                call_safely("wait", done, error, ContainerState{});
            });
        }
    }
    std::unique_ptr<Subscription> logs(const std::string& ref, const LogOptions& options,
                                       std::function<void(const LogLine&)> on_line,
                                       std::function<void()> on_end) override {
        return core_->logs(ref, options, std::move(on_line), std::move(on_end));
    }
    std::unique_ptr<Subscription> events(std::function<void(const Event&)> on_event) override {
        return core_->events(std::move(on_event));
    }
    DaemonInfo info() override { return core_->info(); }

  private:
    asio::io_context& io_;
    std::shared_ptr<Core> core_;
};

}  // namespace

std::unique_ptr<ContainerService> make_container_service(asio::io_context& io,
                                                         const ServiceOptions& options) {
    return std::make_unique<Service>(io, options);
}

}  // namespace truman::daemon
