#include "monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
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
#include <tuple>
#include <utility>
#include <vector>

#include "stdio_hub.hpp"
#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/daemon/atomic_file.hpp"
#include "truman/daemon/container_log.hpp"
#include "truman/daemon/exec_store.hpp"
#include "truman/daemon/monitor_protocol.hpp"
#include "truman/daemon/seccomp_learned.hpp"
#include "truman/daemon/seccomp_log.hpp"
#include "truman/daemon/state_store.hpp"
#include "truman/daemon/time_format.hpp"
#include "truman/error.hpp"
#include "truman/exec.hpp"
#include "truman/fd.hpp"
#include "truman/spec.hpp"
#include "truman/stream_frame.hpp"

namespace truman::daemon {

namespace {

// Command clients being read at once (a waiter is not one: it has been read).
constexpr size_t max_clients = 16;
// An attach command carries the bytes its client sent behind the request, as hex.
constexpr size_t max_command_bytes = size_t{1} << 20;

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
    // A burst of clients (a hundred execs started at once, each waiting on its own connection)
    // must queue, not fail: a full backlog refuses a Unix socket's connect at once.
    if (listen(fd.get(), SOMAXCONN) < 0) throw system_error("listen " + path);
    return fd;
}

struct Client {
    Fd fd;
    std::string buffer;
    Fd passed = {};  // what came with the command as SCM_RIGHTS (attach: the connection)
};

// An exec that runs: its process, the read ends of its stdout and stderr, the file its
// output goes to (as stream frames) and the clients waiting for its exit.
struct RunningExec {
    std::string id;
    ExecPaths paths;
    std::unique_ptr<ExecProcess> process;
    Fd out, err;
    Fd output;
    uint64_t output_bytes = 0;
    std::vector<Fd> waiters = {};
    std::unique_ptr<StdioHub> hub = {};  // its attached client, if started attached
    Fd terminal = {};                    // the master of its terminal (tty), for resizes
};

// Another descriptor of a terminal's master, non-blocking (the file status flags are shared
// by every copy; the monitor only ever polls the master).
Fd duplicate(const Fd& fd) {
    Fd copy(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    if (!copy) throw system_error("dup the terminal");
    fcntl(copy.get(), F_SETFL, O_NONBLOCK);
    return copy;
}

// The window size of a terminal (TIOCSWINSZ: the kernel sends SIGWINCH to its foreground
// process group).
void set_window_size(const Fd& terminal, unsigned height, unsigned width) {
    winsize size{};
    size.ws_row = static_cast<unsigned short>(height);
    size.ws_col = static_cast<unsigned short>(width);
    if (ioctl(terminal.get(), TIOCSWINSZ, &size) < 0) throw system_error("TIOCSWINSZ");
}

// A pipe's two ends, close-on-exec; the read end non-blocking (the monitor's poll loop).
std::pair<Fd, Fd> output_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) throw system_error("pipe2");
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return {Fd(fds[0]), Fd(fds[1])};
}

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
            spec_ = spec_from_json(nlohmann::json::parse(read_whole_file(paths_.config())));
            const ContainerSpec& spec = spec_;
            if (mkdir(options_.run_dir.c_str(), 0700) < 0 && errno != EEXIST)
                throw system_error("mkdir " + options_.run_dir);
            listener_ = listen_on(socket_path_);

            // Without a terminal: pipes for stdout and stderr (with one, its master below).
            Fd out_w, err_w;
            if (!meta.tty) {
                int out[2], err[2];
                if (pipe2(out, O_CLOEXEC) < 0) throw system_error("pipe2");
                stdout_ = Fd(out[0]);
                out_w = Fd(out[1]);
                if (pipe2(err, O_CLOEXEC) < 0) throw system_error("pipe2");
                stderr_ = Fd(err[0]);
                err_w = Fd(err[1]);
                fcntl(stdout_.get(), F_SETFL, O_NONBLOCK);
                fcntl(stderr_.get(), F_SETFL, O_NONBLOCK);
            }
            log_ = std::make_unique<LogWriter>(paths_.log(), options_.log_max_bytes
                                                                 ? options_.log_max_bytes
                                                                 : default_log_max_bytes);

            // open_stdin: a pipe the attached clients write to, held here so that it
            // outlives trumand; else the container reads /dev/null.
            Fd in_r, in_w;
            if (meta.open_stdin && !meta.tty) {
                int in[2];
                if (pipe2(in, O_CLOEXEC) < 0) throw system_error("pipe2");
                in_r = Fd(in[0]);
                in_w = Fd(in[1]);
            }

            cgroups_ = detect_cgroups();
            CreateOptions create_options;
            create_options.id = meta.id;
            create_options.stdin_fd = in_r ? in_r.get() : -1;
            create_options.stdout_fd = out_w.get();
            create_options.stderr_fd = err_w.get();
            create_options.terminal = meta.tty;
            create_options.cgroups = cgroups_.get();
            // Shared by every monitor of this daemon: the default profile is compiled once.
            create_options.seccomp_cache_dir =
                std::filesystem::path(options_.run_dir).parent_path() / "seccomp-cache";
            container_ = Container::create(spec, create_options);
            // Only the container may hold the write ends, or EOF would never come (and
            // only the container the read end of its stdin, or EPIPE would not).
            out_w.reset();
            err_w.reset();
            in_r.reset();
            // A terminal: its master is the container's output (read as stdout) and, with
            // open_stdin, where the clients' input goes; held here, so the terminal outlives
            // trumand. EIO on it is the EOF of every slave.
            if (meta.tty) {
                terminal_ = container_->take_terminal();
                stdout_ = duplicate(terminal_);
                if (meta.open_stdin) in_w = duplicate(terminal_);
            }
            hub_ = std::make_unique<StdioHub>(std::move(in_w), meta.stdin_once, meta.tty);

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
            // Full: further clients wait in the listen backlog until one has been answered.
            fds.push_back({clients_.size() < max_clients ? listener_.get() : -1, POLLIN, 0});
            // -1 once closed (poll ignores it), or while an attached client catches up.
            bool take_output = hub_->accepts_output();
            fds.push_back({take_output ? stdout_.get() : -1, POLLIN, 0});
            fds.push_back({take_output ? stderr_.get() : -1, POLLIN, 0});
            fds.push_back({container_->seccomp_fd(), POLLIN, 0});
            for (const auto& c : clients_) fds.push_back({c.fd.get(), POLLIN, 0});
            // Four per exec, after the clients: its pidfd, stdout, stderr and listener.
            size_t exec_base = fds.size();
            size_t nexecs = execs_.size();
            for (const auto& e : execs_) {
                fds.push_back({e->process->pidfd(), POLLIN, 0});
                fds.push_back({e->out.get(), POLLIN, 0});
                fds.push_back({e->err.get(), POLLIN, 0});
                fds.push_back({e->process->seccomp_fd(), POLLIN, 0});
            }
            for (size_t i = 0; i < nexecs; ++i)
                if (!execs_[i]->hub->accepts_output())
                    fds[exec_base + 4 * i + 1].fd = fds[exec_base + 4 * i + 2].fd = -1;
            // Last, the attached clients: the container's, then each exec's.
            size_t hub_base = fds.size();
            hub_->add_poll(fds);
            for (const auto& e : execs_) e->hub->add_poll(fds);
            if (poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;  // SIGTERM and friends land here, on purpose
                spdlog::error("poll: {}", strerror(errno));
                continue;
            }
            // Clients first: nothing below adds or removes one of the polled hubs' clients
            // before they are handled.
            size_t at = hub_base + hub_->poll_count();
            hub_->handle(&fds[hub_base]);
            for (auto& e : execs_) {
                size_t count = e->hub->poll_count();
                e->hub->handle(&fds[at]);
                at += count;
            }
            if (fds[2].revents) read_output(stdout_, "stdout");
            if (fds[3].revents) read_output(stderr_, "stderr");
            if (fds[4].revents)
                record_blocked_syscall([&] { return container_->handle_seccomp(); });
            // Execs before clients: a client may start a new exec (appended, not polled yet).
            for (size_t i = nexecs; i-- > 0;) {
                const pollfd* f = &fds[exec_base + 4 * i];
                RunningExec& e = *execs_[i];
                if (f[1].revents) read_exec_output(e, e.out, StreamType::stdout_stream);
                if (f[2].revents) read_exec_output(e, e.err, StreamType::stderr_stream);
                if (f[3].revents)
                    record_blocked_syscall([&] { return e.process->handle_seccomp(); });
                if (f[0].revents && finish_exec(e, false))
                    execs_.erase(execs_.begin() + static_cast<std::ptrdiff_t>(i));
            }
            for (size_t i = exec_base; i-- > 5;)
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
            std::string_view data(buf, static_cast<size_t>(n));
            try {
                log_->append(stream, data);
            } catch (const std::exception& e) {
                // Keep draining, or the container would block on a full pipe.
                spdlog::error("container.log: {}", e.what());
            }
            hub_->output(&fd == &stderr_ ? StreamType::stderr_stream : StreamType::stdout_stream,
                         data);
            if (static_cast<size_t>(n) < sizeof buf) return;
        }
    }

    // The init's and every exec's denials, in one seccomp.log.
    template <typename Handle>
    void record_blocked_syscall(Handle&& handle) {
        std::optional<BlockedSyscall> blocked;
        try {
            blocked = handle();
        } catch (const std::exception& e) {
            spdlog::error("seccomp notification: {}", e.what());
            return;
        }
        if (blocked && blocked->learned)
            record_learned(*blocked);
        else if (blocked)
            record_denial(denial_record(*blocked));
    }

    // Learning mode: a call seen for the first time by this container (a notifier reports
    // each of its own once; the init and each exec have their own). Kept on disk at once: the
    // set must survive whatever happens to trumand or to us.
    void record_learned(const BlockedSyscall& call) {
        try {
            if (!learned_) learned_ = read_learned_syscalls(paths_.seccomp_learned());
            if (!learned_->insert({call.name, call.arch}).second) return;
            write_file_atomic(paths_.seccomp_learned(), learned_syscalls_json(*learned_));
        } catch (const std::exception& e) {
            spdlog::error("seccomp-learned.json: {}", e.what());
        }
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
        while (clients_.size() < max_clients) {
            Fd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (!fd) return;
            clients_.push_back({std::move(fd), {}});
        }
    }

    void serve_client(size_t index) {
        Client& client = clients_[index];
        char buf[16384];
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(client.fd.get(), &msg, MSG_CMSG_CLOEXEC);
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
                c->cmsg_len != CMSG_LEN(sizeof(int)))
                continue;
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
            client.passed.reset(fd);
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
            return;
        }
        client.buffer.append(buf, static_cast<size_t>(n));
        auto nl = client.buffer.find('\n');
        if (nl == std::string::npos && client.buffer.size() < max_command_bytes) return;
        std::string line = client.buffer.substr(0, nl);
        if (RunningExec* e = exec_to_wait_for(line)) {
            // Answered by finish_exec once it has exited.
            e->waiters.push_back(std::move(client.fd));
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
            return;
        }
        RunningExec* started = nullptr;
        std::string reply = execute(line, client.passed, &started);
        if (started) {
            // An exec started with wait: answered by finish_exec, as a wait_exec would be.
            started->waiters.push_back(std::move(client.fd));
            clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
            return;
        }
        // Replies are a few bytes: the socket buffer takes them whole.
        send(client.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
        clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
    }

    // *wait_for: the exec an exec command with wait started, whose exit answers it.
    std::string execute(const std::string& line, Fd& passed, RunningExec** wait_for) {
        try {
            ControlCommand command = parse_command(line);
            if (command.verb == ControlCommand::Verb::start) {
                container_->start();
                state_.state.status = Status::running;
                state_.state.started_at = rfc3339_now();
                write_state(paths_, state_);
                spdlog::info("started");
            } else if (command.verb == ControlCommand::Verb::kill) {
                container_->kill(command.signal);
                spdlog::info("sent signal {}", command.signal);
            } else if (command.verb == ControlCommand::Verb::exec) {
                MonitorReply reply;
                reply.pid = start_exec(command.exec_id, command.attach, passed);
                if (command.wait) *wait_for = execs_.back().get();  // start_exec appended it
                return encode_reply(reply);
            } else if (command.verb == ControlCommand::Verb::resize) {
                resize(command);
            } else if (command.verb == ControlCommand::Verb::attach) {
                if (!passed) throw make_error(ErrorKind::invalid, "attach without a connection");
                // Before start too: a client attached to a created container misses nothing.
                hub_->add(std::move(passed), *command.attach,
                          command.attach->logs ? log_so_far() : LogHistory{});
                spdlog::info("client attached ({} now)", hub_->clients());
            } else {
                return encode_reply(exited_exec_reply(command.exec_id));
            }
            return encode_reply({});
        } catch (const std::exception& e) {
            spdlog::warn("{}: {}", line, e.what());
            return encode_reply(failure_reply(e));
        }
    }

    using LogHistory = std::vector<std::pair<StreamType, std::string>>;

    // What the container wrote so far, for attach?logs: the log on disk (container.log.1,
    // then container.log), then the partial lines the writer still holds. Everything it
    // wrote and we read is in one or the other, and nothing read later is: both are kept by
    // this thread, which also feeds the hub, so the live output continues without a gap or a
    // repeat.
    LogHistory log_so_far() {
        LogHistory out;
        auto type_of = [](const std::string& stream) {
            return stream == "stderr" ? StreamType::stderr_stream : StreamType::stdout_stream;
        };
        try {
            RotatedLogReader reader(paths_.log());
            reader.read_available([&](std::string_view record) {
                if (auto line = decode_log_line(record))
                    out.emplace_back(type_of(line->stream), line->text + "\n");
            });
        } catch (const std::exception& e) {
            spdlog::warn("attach: reading the log: {}", e.what());
        }
        for (auto& [stream, text] : log_->unwritten()) out.emplace_back(type_of(stream), text);
        return out;
    }

    void resize(const ControlCommand& command) {
        const Fd* terminal = &terminal_;
        if (!command.exec_id.empty()) {
            terminal = nullptr;
            for (const auto& e : execs_)
                if (e->id == command.exec_id) terminal = &e->terminal;
            if (!terminal)
                throw make_error(ErrorKind::conflict,
                                 "exec " + command.exec_id + " is not running");
        }
        if (!*terminal) throw Error(ErrorKind::conflict, ENOTTY, "no terminal to resize");
        set_window_size(*terminal, command.height, command.width);
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
        // Its execs end with it: with its PID namespace, or here. Reaped before the cgroup is
        // emptied, which a zombie exec (ours to reap) would otherwise keep busy on v1.
        for (auto& e : execs_) {
            try {
                e->process->kill(SIGKILL);
            } catch (const std::exception& ex) {
                spdlog::error("exec {}: {}", e->id, ex.what());
            }
            finish_exec(*e, true);
        }
        execs_.clear();
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
        // After the exit is on record: a client that sees its stream end may ask for it.
        hub_->finish();
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

    // Start the exec whose config.json the service wrote; returns its host PID.
    pid_t start_exec(const std::string& id, const std::optional<AttachRequest>& attach,
                     Fd& connection) {
        if (attach && !connection)
            throw make_error(ErrorKind::invalid, "attached exec without a connection");
        if (state_.state.status != Status::running)
            throw make_error(ErrorKind::conflict, "container " + id_ + " is not running");
        ExecPaths paths(paths_, id);
        for (const auto& e : execs_)
            if (e->id == id) throw make_error(ErrorKind::conflict, "exec " + id + " was started");
        if (read_exec_state(paths))
            throw make_error(ErrorKind::conflict, "exec " + id + " was started");
        ExecRequest request = read_exec_config(paths);
        // Without a terminal: pipes for stdout and stderr (with one, its master below).
        Fd out, out_w, err, err_w;
        if (!request.tty) {
            std::tie(out, out_w) = output_pipe();
            std::tie(err, err_w) = output_pipe();
        }
        // Its stdin: a pipe its attached client writes to, closed when the client's input ends.
        Fd in_r, in_w;
        if (!request.tty && attach && request.attach_stdin && attach->stdin_stream) {
            int in[2];
            if (pipe2(in, O_CLOEXEC) < 0) throw system_error("pipe2");
            in_r = Fd(in[0]);
            in_w = Fd(in[1]);
        }
        ExecSpec spec;
        spec.stdin_fd = in_r ? in_r.get() : -1;
        spec.args = request.cmd;
        spec.env = request.env;
        spec.cwd = request.cwd;
        spec.user = request.user;
        spec.stdout_fd = out_w.get();
        spec.stderr_fd = err_w.get();
        spec.terminal = request.tty;
        Fd output(open(paths.output().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!output) throw system_error("open " + paths.output());
        auto running = std::make_unique<RunningExec>(
            RunningExec{id, paths, nullptr, std::move(out), std::move(err), std::move(output)});
        running->process = container_->exec(spec);
        if (request.tty) {
            running->terminal = running->process->take_terminal();
            running->out = duplicate(running->terminal);
            if (attach && request.attach_stdin && attach->stdin_stream)
                in_w = duplicate(running->terminal);
        }
        running->hub = std::make_unique<StdioHub>(std::move(in_w), true, request.tty);
        pid_t pid = running->process->pid();
        // Only the exec may hold the write ends, or EOF would never come.
        out_w.reset();
        err_w.reset();
        in_r.reset();
        write_exec_state(paths, {true, pid, std::nullopt, 0});
        spdlog::info("exec {} started (pid {})", id, pid);
        // Last: once the hub holds the connection its handshake is written, after which the
        // service may no longer answer it with an error.
        if (attach) running->hub->add(std::move(connection), *attach);
        execs_.push_back(std::move(running));
        return pid;
    }

    // The running exec a wait_exec line asks for; nullptr for any other line (execute()
    // answers it).
    RunningExec* exec_to_wait_for(const std::string& line) {
        try {
            ControlCommand command = parse_command(line);
            if (command.verb != ControlCommand::Verb::wait_exec) return nullptr;
            for (auto& e : execs_)
                if (e->id == command.exec_id) return e.get();
        } catch (const std::exception&) {
        }
        return nullptr;
    }

    // wait_exec for an exec that does not run: its recorded exit.
    MonitorReply exited_exec_reply(const std::string& id) {
        auto state = read_exec_state(ExecPaths(paths_, id));
        if (!state) throw make_error(ErrorKind::conflict, "exec " + id + " was not started");
        MonitorReply reply;
        reply.exit_code = state->exit_code.value_or(-1);
        reply.signal = state->signal;
        return reply;
    }

    // What fd holds: up to a short read (a busy exec does not starve the rest of the loop),
    // or with until_empty until it would block, bounded all the same (a child the exec left
    // behind may keep writing): 64 reads are more than a full pipe or a terminal's buffers.
    void read_exec_output(RunningExec& e, Fd& fd, StreamType type, bool until_empty = false) {
        if (!fd) return;
        char buf[65536];
        for (int reads = 0; reads < 64; ++reads) {
            ssize_t n = ::read(fd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return;
            if (n <= 0) {
                fd.reset();
                return;
            }
            // Past the cap the output is dropped, but the pipe still drained.
            uint64_t cap = options_.log_max_bytes ? options_.log_max_bytes : default_log_max_bytes;
            std::string_view data(buf, static_cast<size_t>(n));
            e.hub->output(type, data);
            std::string frames = encode_frames(type, data);
            if (e.output_bytes + frames.size() <= cap) {
                write_line(e.output.get(), frames);
                e.output_bytes += frames.size();
            }
            if (!until_empty && static_cast<size_t>(n) < sizeof buf) return;
        }
    }

    // The exec's pidfd is readable (or, with block, the container is gone): reap it, keep
    // what it wrote, record the exit and answer its waiters. False on a spurious wake-up.
    bool finish_exec(RunningExec& e, bool block) {
        std::optional<ExitStatus> status;
        try {
            status = block ? std::optional(e.process->wait()) : e.process->try_wait();
        } catch (const std::exception& ex) {
            spdlog::error("exec {}: wait: {}", e.id, ex.what());
            status = ExitStatus{-1, 0, false};
        }
        if (!status) return false;
        // What is in the pipes now, to the last byte; a child it left behind does not hold
        // the exit up. A terminal's master needs no wait either: once its last slave is
        // closed (the process's files go before its pidfd turns readable), a read first
        // flushes the kernel's pending input, then answers EIO.
        read_exec_output(e, e.out, StreamType::stdout_stream, true);
        read_exec_output(e, e.err, StreamType::stderr_stream, true);
        try {
            write_exec_state(e.paths, {false, e.process->pid(), status->exit_code, status->signal});
        } catch (const std::exception& ex) {
            spdlog::error("exec {}: cannot record the exit: {}", e.id, ex.what());
        }
        spdlog::info("exec {} exited with {} (signal {})", e.id, status->exit_code, status->signal);
        e.hub->finish();
        MonitorReply reply;
        reply.exit_code = status->exit_code;
        reply.signal = status->signal;
        std::string line = encode_reply(reply);
        for (const auto& w : e.waiters) send(w.get(), line.data(), line.size(), MSG_NOSIGNAL);
        // Kept across a power loss too, but only once the waiters have their answer.
        try {
            sync_file_and_dir(e.paths.state());
        } catch (const std::exception& ex) {
            spdlog::error("exec {}: cannot sync its exit: {}", e.id, ex.what());
        }
        return true;
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
    Fd terminal_;  // the master of the container's terminal (tty), for resizes
    std::vector<Client> clients_;
    std::unique_ptr<LogWriter> log_;
    std::unique_ptr<CgroupManager> cgroups_;
    ContainerSpec spec_;
    std::unique_ptr<Container> container_;
    std::vector<std::unique_ptr<RunningExec>> execs_;
    std::unique_ptr<StdioHub> hub_;  // the container's attached clients and its stdin
    StoredState state_;
    std::unique_ptr<SeccompLogWriter> seccomp_log_;  // opened at the first denial
    std::optional<LearnedSyscalls> learned_;         // read at the first learned call
};

}  // namespace

int run_monitor(const MonitorOptions& options) {
    Monitor monitor(options);
    if (!monitor.create()) return 1;
    return monitor.serve();
}

}  // namespace truman::daemon
