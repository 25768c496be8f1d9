// The parent side of a container: prepare every plan, clone the child, do the parent's share
// of the set-up (id maps, cgroup, network) while the child waits, and own what was made.

#include "truman/container.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <filesystem>

#include "child.hpp"
#include "mount_plan.hpp"
#include "process_plan.hpp"
#include "truman/capabilities.hpp"
#include "truman/error.hpp"
#include "truman/exec.hpp"
#include "truman/fd.hpp"
#include "truman/idmap.hpp"
#include "truman/network.hpp"
#include "truman/rlimits.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace truman {

using detail::ChildPlan;
using detail::ChildReport;
using detail::ChildStep;

namespace {

// Everything the child reads lives here, in the parent, until the child is parked.
struct Prepared {
    ChildPlan plan;
    detail::PreparedProcess process;  // plan.process points into it
    detail::MountPlan mounts;
    std::vector<detail::NamespaceJoin> joins;
    std::vector<Fd> join_fds;
    std::vector<std::string> join_paths;
};

std::unique_ptr<Prepared> prepare(const ContainerSpec& spec, const CreateOptions& options) {
    auto p = std::make_unique<Prepared>();
    ChildPlan& plan = p->plan;

    bool user_ns = false;
    for (const auto& ns : spec.linux.namespaces) {
        if (ns.type == NamespaceType::user && ns.path.empty()) user_ns = true;
        if (!ns.path.empty()) {
            Fd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd)
                throw make_error(
                    errno == ENOENT ? ErrorKind::not_found : ErrorKind::system,
                    std::string("open namespace ") + to_string(ns.type) + " " + ns.path, errno);
            p->joins.push_back({fd.get(), clone_flag(ns.type)});
            p->join_paths.push_back(ns.path);
            p->join_fds.push_back(std::move(fd));
        }
    }
    plan.joins = p->joins.data();
    plan.njoins = p->joins.size();
    plan.user_namespace = user_ns;
    plan.unshare_cgroup_namespace = false;
    for (const auto& ns : spec.linux.namespaces)
        if (ns.type == NamespaceType::cgroup && ns.path.empty())
            plan.unshare_cgroup_namespace = true;

    for (const auto& ns : spec.linux.namespaces)
        if (ns.type == NamespaceType::network && ns.path.empty())
            plan.loopback_up = spec.network.mode != Network::Mode::none;
    if (!spec.hostname.empty()) plan.hostname = spec.hostname.c_str();
    if (!spec.domainname.empty()) plan.domainname = spec.domainname.c_str();

    p->mounts = detail::build_mount_plan(spec, user_ns);
    plan.rootfs = p->mounts.rootfs.c_str();
    plan.overlay_data = p->mounts.overlay_data.empty() ? nullptr : p->mounts.overlay_data.c_str();
    plan.overlay_cwd = p->mounts.overlay_cwd.empty() ? nullptr : p->mounts.overlay_cwd.c_str();
    plan.fs_ops = p->mounts.ops.data();
    plan.nfs_ops = p->mounts.ops.size();
    plan.readonly_root = spec.root.readonly;
    plan.root_propagation = p->mounts.root_propagation;

    detail::ProcessInputs inputs{spec.process, spec.linux};
    inputs.may_setgroups = !(user_ns && must_deny_setgroups());
    inputs.seccomp_cache_dir = options.seccomp_cache_dir;
    inputs.stdio[0] = options.stdin_fd;
    inputs.stdio[1] = options.stdout_fd;
    inputs.stdio[2] = options.stderr_fd;
    inputs.terminal = options.terminal;
    detail::prepare_process(p->process, inputs);
    plan.process = p->process.plan;
    return p;
}

// Turn the child's {step, errno, value} into the message a user can act on.
Error child_error(const ChildReport& r, const ContainerSpec& spec, const Prepared& p) {
    if (auto shared = detail::process_error(r, spec.process.cwd, spec.process.args.at(0)))
        return *shared;
    std::string what = detail::to_string(r.step);
    switch (r.step) {
        case ChildStep::fs_op:
            if (r.value >= 0 && static_cast<size_t>(r.value) < p.mounts.descriptions.size())
                what = p.mounts.descriptions[r.value];
            break;
        case ChildStep::join_namespace:
            if (r.value >= 0 && static_cast<size_t>(r.value) < p.join_paths.size())
                what += " " + p.join_paths[r.value];
            break;
        case ChildStep::setrlimit:
            if (r.value >= 0 && static_cast<size_t>(r.value) < spec.process.rlimits.size())
                what += " " + spec.process.rlimits[r.value].type;
            break;
        default:
            break;
    }
    return make_error(ErrorKind::system, what, r.err);
}

ExitStatus exit_status_from(const siginfo_t& info) {
    ExitStatus s;
    if (info.si_code == CLD_EXITED) {
        s.exit_code = info.si_status;
    } else {
        s.signal = info.si_status;
        s.exit_code = 128 + info.si_status;
    }
    return s;
}

}  // namespace

struct Container::State {
    std::string id;
    ContainerSpec spec;
    std::unique_ptr<Prepared> prepared;  // released once the child is parked
    pid_t pid = -1;
    Fd pidfd;
    Fd sync;  // the parent's end of the socketpair
    std::unique_ptr<Cgroup> cgroup;
    std::string seccomp_cache_dir;  // for the filters of execs
    std::string host_link;
    std::unique_ptr<SeccompNotifier> notifier;
    Fd terminal;  // the master of the init's pty, until taken
    std::function<void(const BlockedSyscall&)> on_blocked;
    bool started = false;
    bool reaped = false;
    bool cgroup_removed = false;
    ExitStatus exit;

    // What went wrong where no caller could be told at once (the OOM check after a reap,
    // every step of release()); destroy() throws it.
    std::vector<Error> failures;

    // Runs one step of the cleanup; a failure is recorded, saying what was being done, and
    // does not stop the steps after it.
    template <class Step>
    void attempt(const char* what, Step&& step) noexcept {
        try {
            step();
        } catch (const Error& e) {
            failures.emplace_back(e.kind(), e.err(), std::string(what) + ": " + e.what());
        } catch (const std::exception& e) {
            failures.emplace_back(ErrorKind::system, EIO, std::string(what) + ": " + e.what());
        }
    }

    void reap(bool block) {
        if (reaped || !pidfd) return;
        siginfo_t info{};
        for (;;) {
            int r = ::waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info,
                             WEXITED | (block ? 0 : WNOHANG));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw system_error("waitid container " + id);
            break;
        }
        if (info.si_pid == 0) return;  // still running
        reaped = true;
        exit = exit_status_from(info);
        // The exit itself is known; a cgroup that cannot say whether the OOM killer struck
        // must not cost the caller the exit code, so that goes to destroy().
        if (cgroup)
            attempt("tell whether the OOM killer struck",
                    [&] { exit.oom_killed = cgroup->oom_killed(); });
    }

    // Kill and reap the init, kill whatever is left in the cgroup (with no PID namespace,
    // processes outlive the init) and remove the cgroup. Each step runs even when one before
    // it failed; a step that failed is left undone, so release() again retries it.
    void release() noexcept {
        if (cgroup && !cgroup_removed)
            attempt("kill the processes in its cgroup", [&] { cgroup->kill_all(); });
        if (pidfd && !reaped) {
            if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) != 0 &&
                errno != ESRCH)
                failures.push_back(system_error("SIGKILL its init"));
            attempt("reap its init", [&] { reap(true); });
        }
        notifier.reset();
        sync.reset();
        prepared.reset();
        if (cgroup && !cgroup_removed)
            attempt("remove its cgroup", [&] {
                cgroup->destroy();
                cgroup_removed = true;
            });
        // The host end of the veth goes away with the container's network namespace (an
        // explicit delete would cost 25-35 ms of RCU grace periods for nothing).
        if (reaped) pidfd.reset();
    }
};

Container::Container(std::unique_ptr<State> state) : state_(std::move(state)) {}
Container::~Container() {
    // A destructor cannot report: callers that want to know call destroy() first.
    if (state_) state_->release();
}

std::unique_ptr<Container> Container::create(const ContainerSpec& spec,
                                             const CreateOptions& options) {
    validate(spec);
    if (!spec.has_namespace(NamespaceType::mount))
        throw make_error(ErrorKind::unsupported, "linux.namespaces: a mount namespace is required");
    auto state = std::make_unique<State>();
    state->id = options.id;
    state->spec = spec;
    state->seccomp_cache_dir = options.seccomp_cache_dir;
    state->prepared = prepare(spec, options);
    Prepared& p = *state->prepared;

    try {
        if (options.cgroups) state->cgroup = options.cgroups->create(options.id, spec);

        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            throw system_error("socketpair");
        state->sync.reset(sv[0]);
        Fd child_end(sv[1]);
        p.plan.go_fd = p.plan.status_fd = p.plan.start_fd = child_end.get();
        p.plan.parent_end = state->sync.get();

        // clone3 without CLONE_VM and without a stack behaves like fork(): the child runs on
        // a copy-on-write image of this stack. The cgroup namespace is left out here on
        // purpose (see child.cpp, step 3).
        uint64_t flags = CLONE_PIDFD;
        for (const auto& ns : spec.linux.namespaces)
            if (ns.path.empty() && ns.type != NamespaceType::cgroup) flags |= clone_flag(ns.type);
        // v1: the child joins its cgroups itself, through these (Cgroup::open_join_files).
        // Its copies are all it needs: ours close when create returns.
        JoinFiles joins = open_join_files(state->cgroup.get());
        p.plan.cgroup_joins = joins.fds.data();
        p.plan.ncgroup_joins = joins.fds.size();
        int pidfd = -1;
        struct clone_args args {};
        args.flags = flags;
        args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
        args.exit_signal = SIGCHLD;
        if (state->cgroup && state->cgroup->dir_fd() >= 0) {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = static_cast<uint64_t>(state->cgroup->dir_fd());
        }
        long pid = ::syscall(SYS_clone3, &args, sizeof args);
        if (pid < 0) throw system_error("clone3");
        if (pid == 0) detail::child_main(p.plan);  // never returns
        state->pid = static_cast<pid_t>(pid);
        state->pidfd.reset(pidfd);
        child_end.reset();

        // The parent's share, while the child waits on the socket.
        if (p.plan.user_namespace)
            write_id_maps(state->pid, spec.linux.uid_mappings, spec.linux.gid_mappings,
                          !p.plan.process.may_setgroups);
        if (state->cgroup && state->cgroup->dir_fd() < 0 && joins.fds.empty())
            state->cgroup->add_process(state->pid);
        bool new_netns = false;
        for (const auto& ns : spec.linux.namespaces)
            if (ns.type == NamespaceType::network && ns.path.empty()) new_netns = true;
        detail::send_byte(state->sync.get(), "release the container's init");

        // A veth needs the parent (the host end lives here); lo is brought up by the child.
        // Wired while the child mounts its root and confines itself (nothing it does before
        // it parks uses a link of ours), so the two overlap; it cannot exec before the
        // report below, and it does not get a start before create returns.
        std::exception_ptr network_failure;
        if (new_netns && (spec.network.mode == Network::Mode::veth ||
                          spec.network.mode == Network::Mode::bridge)) {
            try {
                state->host_link = setup_network(state->pid, spec.network, options.id);
            } catch (...) {
                network_failure = std::current_exception();
            }
        }

        ChildReport report{};
        if (!detail::read_report(state->sync.get(), report, "the container")) {
            state->reap(true);
            throw system_error("container init exited (status " +
                                   std::to_string(state->exit.exit_code) + ") before it was ready",
                               ECHILD);
        }
        // A child that failed is the cause (a network made in a namespace that died with it
        // fails too); one that parked is killed with the state when the network's error goes.
        if (report.step != ChildStep::ready) throw child_error(report, spec, p);
        if (network_failure) std::rethrow_exception(network_failure);
        if (report.value >= 0) {
            int fd =
                static_cast<int>(::syscall(SYS_pidfd_getfd, state->pidfd.get(), report.value, 0));
            if (fd < 0) throw system_error("pidfd_getfd seccomp listener");
            state->notifier = std::make_unique<SeccompNotifier>(fd, *p.process.seccomp);
        }
        if (report.terminal >= 0) {
            state->terminal.reset(static_cast<int>(
                ::syscall(SYS_pidfd_getfd, state->pidfd.get(), report.terminal, 0)));
            if (!state->terminal) throw system_error("pidfd_getfd terminal");
        }
    } catch (const Error& e) {
        // The create error is what the caller must see; what the cleanup could not undo is
        // added to it, not dropped with the state.
        state->release();
        if (state->failures.empty()) throw;
        std::string message = e.what();
        for (const auto& f : state->failures) message += "; cleaning up: " + std::string(f.what());
        throw Error(e.kind(), e.err(), message);
    } catch (...) {
        state->release();
        throw;
    }
    state->prepared.reset();
    return std::unique_ptr<Container>(new Container(std::move(state)));
}

const std::string& Container::id() const noexcept {
    return state_->id;
}
pid_t Container::pid() const noexcept {
    return state_->pid;
}
int Container::pidfd() const noexcept {
    return state_->pidfd.get();
}
Cgroup* Container::cgroup() const noexcept {
    return state_->cgroup.get();
}
Fd Container::take_terminal() {
    return std::move(state_->terminal);
}
std::string Container::host_interface() const {
    return state_->host_link;
}
int Container::seccomp_fd() const noexcept {
    return state_->notifier ? state_->notifier->fd() : -1;
}
void Container::on_blocked(std::function<void(const BlockedSyscall&)> callback) {
    state_->on_blocked = std::move(callback);
}

std::optional<BlockedSyscall> Container::handle_seccomp() {
    if (!state_->notifier) return std::nullopt;
    auto blocked = state_->notifier->handle_one();
    if (blocked && !blocked->learned && state_->on_blocked) state_->on_blocked(*blocked);
    return blocked;
}

void Container::start() {
    State& s = *state_;
    if (s.started)
        throw make_error(ErrorKind::conflict, "container " + s.id + " was already started");
    if (s.reaped || !s.sync)
        throw make_error(ErrorKind::conflict, "container " + s.id + " is not running");
    s.started = true;
    detail::send_byte(s.sync.get(), "start the container");
    // EOF means execve succeeded (the child's end is close-on-exec); a report means it failed.
    ChildReport report{};
    bool failed = detail::read_report(s.sync.get(), report, "the container");
    s.sync.reset();
    if (failed) {
        s.reap(true);
        throw child_error(report, s.spec, Prepared{});
    }
}

std::optional<ExitStatus> Container::try_wait() {
    state_->reap(false);
    if (!state_->reaped) return std::nullopt;
    return state_->exit;
}

ExitStatus Container::wait() {
    State& s = *state_;
    if (!s.reaped)
        detail::wait_answering_seccomp(
            s.pidfd.get(), seccomp_fd(), [this] { handle_seccomp(); }, "container " + s.id);
    s.reap(true);
    return s.exit;
}

void Container::kill(int signal) {
    State& s = *state_;
    if (s.reaped) return;
    if (::syscall(SYS_pidfd_send_signal, s.pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
        throw make_error(errno == EINVAL ? ErrorKind::invalid : ErrorKind::system,
                         "kill container " + s.id + " with signal " + std::to_string(signal),
                         errno);
}

std::unique_ptr<ExecProcess> Container::exec(const ExecSpec& spec) {
    State& s = *state_;
    if (!s.started || s.reaped || !s.pidfd)
        throw make_error(ErrorKind::conflict, "container " + s.id + " is not running");
    return detail::spawn_exec(s.spec, s.pidfd.get(), s.cgroup.get(), s.seccomp_cache_dir, spec);
}

void Container::destroy() {
    if (!state_) return;
    State& s = *state_;
    s.release();
    if (s.failures.empty()) return;
    std::vector<Error> failures = std::move(s.failures);
    s.failures.clear();
    std::string message = "container " + s.id + ": ";
    for (size_t i = 0; i < failures.size(); ++i)
        message += (i == 0 ? "" : "; ") + std::string(failures[i].what());
    throw Error(failures.front().kind(), failures.front().err(), message);
}

}  // namespace truman
