#include "monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/container_log.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/daemon/seccomp_log.hpp"
#include "truman/daemon/state_store.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/spec.hpp"

namespace truman::daemon {

namespace {

constexpr size_t max_clients = 16;
constexpr size_t max_command_bytes = 256;

void write_line(int fd, const std::string& line) {
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the reader is gone; nothing else to tell it
        p += n;
        left -= static_cast<size_t>(n);
    }
}

Fd listen_on(const std::string& path) {
    UnixSocketAddress addr(path);
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw system_error("socket");
    unlink(path.c_str());  // left by a monitor that was SIGKILLed
    if (bind(fd.get(), addr.get(), addr.size()) < 0) throw system_error("bind " + path);
    if (chmod(path.c_str(), 0600) < 0) throw system_error("chmod " + path);
    if (listen(fd.get(), 16) < 0) throw system_error("listen " + path);
    return fd;
}

struct Client {
    Fd fd;
    std::string buffer;
};

class Monitor {
  public:
    explicit Monitor(const MonitorOptions& options)
        : options_(options),
          paths_(options.container_dir),
          socket_path_(options.run_dir + "/monitor.sock") {}

    ~Monitor() { remove_runtime_files(); }

    // Create the container and say how it went on the sync fd.
    bool create() {
        try {
            ContainerMeta meta = read_meta(paths_);
            id_ = meta.id;
            ContainerSpec spec =
                spec_from_json(nlohmann::json::parse(read_whole_file(paths_.config())));
            if (mkdir(options_.run_dir.c_str(), 0700) < 0 && errno != EEXIST)
                throw system_error("mkdir " + options_.run_dir);
            listener_ = listen_on(socket_path_);

            int out[2], err[2];
            if (pipe2(out, O_CLOEXEC) < 0) throw system_error("pipe2");
            stdout_ = Fd(out[0]);
            Fd out_w(out[1]);
            if (pipe2(err, O_CLOEXEC) < 0) throw system_error("pipe2");
            stderr_ = Fd(err[0]);
            Fd err_w(err[1]);
            fcntl(stdout_.get(), F_SETFL, O_NONBLOCK);
            fcntl(stderr_.get(), F_SETFL, O_NONBLOCK);
            log_ = std::make_unique<LogWriter>(paths_.log(), options_.log_max_bytes
                                                                 ? options_.log_max_bytes
                                                                 : default_log_max_bytes);

            cgroups_ = detect_cgroups();
            CreateOptions create_options;
            create_options.id = meta.id;
            create_options.stdin_fd = -1;
            create_options.stdout_fd = out_w.get();
            create_options.stderr_fd = err_w.get();
            create_options.cgroups = cgroups_.get();
            // Shared by every monitor of this daemon: the default profile is compiled once.
            create_options.seccomp_cache_dir =
                std::filesystem::path(options_.run_dir).parent_path() / "seccomp-cache";
            container_ = Container::create(spec, create_options);
            // Only the container may hold the write ends, or EOF would never come.
            out_w.reset();
            err_w.reset();

            state_.state.status = Status::created;
            state_.state.pid = container_->pid();
            state_.monitor_pid = getpid();
            write_state(paths_, state_);
            spdlog::info("created container {} (pid {})", meta.id, container_->pid());
            report(MonitorReply{std::nullopt, container_->pid(), getpid()});
            return true;
        } catch (const std::exception& e) {
            spdlog::error("create failed: {}", e.what());
            report(failure_reply(e));
        }
        if (container_) release_container();
        return false;
    }

    // Serve until the container has exited and everything about it is on disk.
    int serve() {
        for (;;) {
            std::vector<pollfd> fds;
            fds.push_back({container_->pidfd(), POLLIN, 0});
            fds.push_back({listener_.get(), POLLIN, 0});
            fds.push_back({stdout_.get(), POLLIN, 0});  // -1 once closed: poll ignores it
            fds.push_back({stderr_.get(), POLLIN, 0});
            fds.push_back({container_->seccomp_fd(), POLLIN, 0});
            for (const auto& c : clients_) fds.push_back({c.fd.get(), POLLIN, 0});
            if (poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;  // SIGTERM and friends land here, on purpose
                spdlog::error("poll: {}", strerror(errno));
                continue;
            }
            if (fds[2].revents) read_output(stdout_, "stdout");
            if (fds[3].revents) read_output(stderr_, "stderr");
            if (fds[4].revents) record_blocked_syscall();
            for (size_t i = fds.size(); i-- > 5;)
                if (fds[i].revents) serve_client(i - 5);
            if (fds[1].revents) accept_clients();
            if (fds[0].revents && finish()) return 0;
        }
    }

  private:
    // After a success the fd is closed at once; after a failure it stays open until we exit,
    // so that its EOF tells the service it may remove the container's directory.
    void report(const MonitorReply& reply) {
        if (options_.sync_fd < 0) return;
        write_line(options_.sync_fd, encode_reply(reply));
        if (!reply.error) {
            close(options_.sync_fd);
            options_.sync_fd = -1;
        }
    }

    void read_output(Fd& fd, const char* stream) {
        if (!fd) return;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return;
            if (n <= 0) {
                fd.reset();  // EOF: every writer is gone
                return;
            }
            try {
                log_->append(stream, std::string_view(buf, static_cast<size_t>(n)));
            } catch (const std::exception& e) {
                // Keep draining, or the container would block on a full pipe.
                spdlog::error("container.log: {}", e.what());
            }
            if (static_cast<size_t>(n) < sizeof buf) return;
        }
    }

    void record_blocked_syscall() {
        std::optional<BlockedSyscall> blocked;
        try {
            blocked = container_->handle_seccomp();
        } catch (const std::exception& e) {
            spdlog::error("seccomp notification: {}", e.what());
            return;
        }
        if (blocked) record_denial(denial_record(*blocked));
    }

    void record_denial(const SeccompRecord& record) {
        try {
            if (!seccomp_log_)
                seccomp_log_ = std::make_unique<SeccompLogWriter>(paths_.seccomp_log());
            seccomp_log_->append(record);
        } catch (const std::exception& e) {
            // The call was answered already; only its record is lost.
            spdlog::error("seccomp.log: {}", e.what());
        }
    }

    void accept_clients() {
        for (;;) {
            Fd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (!fd) return;
            if (clients_.size() >= max_clients) {
                write_line(fd.get(),
                           encode_reply({Error(ErrorKind::system, EBUSY, "monitor busy")}));
                continue;
            }
            clients_.push_back({std::move(fd), {}});
        }
    }

    void serve_client(size_t index) {
        Client& client = clients_[index];
        char buf[max_command_bytes];
        ssize_t n = recv(client.fd.get(), buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
            return;
        }
        client.buffer.append(buf, static_cast<size_t>(n));
        auto nl = client.buffer.find('\n');
        if (nl == std::string::npos && client.buffer.size() < max_command_bytes) return;
        std::string reply = execute(client.buffer.substr(0, nl));
        // Replies are a few bytes: the socket buffer takes them whole.
        send(client.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
        clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
    }

    std::string execute(const std::string& line) {
        try {
            ControlCommand command = parse_command(line);
            if (command.verb == ControlCommand::Verb::start) {
                container_->start();
                state_.state.status = Status::running;
                state_.state.started_at = rfc3339_now();
                write_state(paths_, state_);
                spdlog::info("started");
            } else {
                container_->kill(command.signal);
                spdlog::info("sent signal {}", command.signal);
            }
            return encode_reply({});
        } catch (const std::exception& e) {
            spdlog::warn("{}: {}", line, e.what());
            return encode_reply(failure_reply(e));
        }
    }

    // The init is gone (pidfd readable). False if it was a spurious wake-up.
    bool finish() {
        std::optional<ExitStatus> status;
        try {
            status = container_->try_wait();
        } catch (const std::exception& e) {
            spdlog::error("wait: {}", e.what());
            status = ExitStatus{-1, 0, false};
        }
        if (!status) return false;
        // A KILL or TRAP action never reaches the listener; all that shows is the init's
        // SIGSYS in its wait status. Recorded before the exit, like every other denial.
        if (status->signal == SIGSYS) record_denial(sigsys_record(state_.state.pid, rfc3339_now()));
        read_output(stdout_, "stdout");
        read_output(stderr_, "stderr");
        // Kills whatever the init left behind (no PID namespace, or a cgroup sibling), which
        // closes the last write ends of the pipes.
        bool released = release_container();
        drain_until_eof();
        try {
            log_->flush();
        } catch (const std::exception& e) {
            spdlog::error("container.log: {}", e.what());
        }
        // Logs first, then the state: whoever sees "exited" can rely on complete logs.
        state_.state.status = Status::exited;
        state_.state.pid = 0;
        state_.state.exit_code = status->exit_code;
        state_.state.signal = status->signal;
        state_.state.oom_killed = status->oom_killed;
        state_.state.finished_at = rfc3339_now();
        try {
            write_state(paths_, state_);
        } catch (const std::exception& e) {
            spdlog::error("cannot record the exit: {}", e.what());
        }
        spdlog::info("exited with {} (signal {}, oom {})", status->exit_code, status->signal,
                     status->oom_killed);
        // The exit is on record; now retry what could not be released, a bounded number of
        // times (each try already waits out a busy cgroup for a few seconds).
        for (int retry = 0; !released && retry < 2; ++retry) {
            sleep(1);
            released = release_container();
        }
        if (!released)
            spdlog::error("container {}: giving up; the resources named above are left behind",
                          id_);
        return true;
    }

    // Container::destroy(), logging what failed (its message starts with "container <id>:");
    // true when everything was released.
    bool release_container() {
        try {
            container_->destroy();
            return true;
        } catch (const std::exception& e) {
            spdlog::error("release failed: {}", e.what());
            return false;
        }
    }

    // A process that escaped both the PID namespace and the cgroup could hold a pipe open
    // forever; give up on it after a while rather than never recording the exit.
    void drain_until_eof() {
        for (int rounds = 0; rounds < 20 && (stdout_ || stderr_); ++rounds) {
            pollfd fds[2] = {{stdout_.get(), POLLIN, 0}, {stderr_.get(), POLLIN, 0}};
            if (poll(fds, 2, 100) < 0 && errno != EINTR) break;
            if (fds[0].revents) read_output(stdout_, "stdout");
            if (fds[1].revents) read_output(stderr_, "stderr");
        }
    }

    void remove_runtime_files() {
        if (listener_) {
            unlink(socket_path_.c_str());
            listener_.reset();
        }
        rmdir(options_.run_dir.c_str());
    }

    MonitorOptions options_;
    ContainerPaths paths_;
    std::string id_;
    std::string socket_path_;
    Fd listener_;
    Fd stdout_, stderr_;
    std::vector<Client> clients_;
    std::unique_ptr<LogWriter> log_;
    std::unique_ptr<CgroupManager> cgroups_;
    std::unique_ptr<Container> container_;
    StoredState state_;
    std::unique_ptr<SeccompLogWriter> seccomp_log_;  // opened at the first denial
};

}  // namespace

int run_monitor(const MonitorOptions& options) {
    Monitor monitor(options);
    if (!monitor.create()) return 1;
    return monitor.serve();
}

}  // namespace truman::daemon
