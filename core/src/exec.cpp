// The parent side of an exec: validate, prepare the plan from the container's spec and the
// exec's overrides, clone the child into the container's PID namespace and cgroup, and own
// the process it becomes.

#include "truman/exec.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "exec_child.hpp"
#include "process_plan.hpp"
#include "truman/capabilities.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/idmap.hpp"
#include "truman/namespaces.hpp"
#include "truman/process.hpp"
#include "truman/rlimits.hpp"
#include "truman/sealed_exe.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace truman {

using detail::ChildReport;
using detail::ChildStep;
using detail::ExecPlan;

namespace {

std::string env_key(const std::string& entry) {
    return entry.substr(0, entry.find('='));
}

}  // namespace

void validate(const ExecSpec& spec) {
    // The process concern's rules, in the exec's own field names.
    Process p;
    p.args = spec.args;
    p.env = spec.env;
    if (spec.cwd) p.cwd = *spec.cwd;
    if (spec.user) p.user = *spec.user;
    try {
        validate_process(p);
    } catch (const Error& e) {
        std::string field = e.field();
        for (auto [oci, own] : {std::pair{"process.args", "cmd"},
                                {"process.env", "env"},
                                {"process.cwd", "cwd"},
                                {"process.user", "user"}})
            if (field.rfind(oci, 0) == 0) field = own + field.substr(std::strlen(oci));
        throw e.with_field(field);
    }
}

bool exec_needs_sealed_copy(const ContainerSpec& container) {
    if (container.has_namespace(NamespaceType::user)) return false;
    CapabilityMasks caps = capability_masks(container.process.capabilities);
    return (((caps.bounding | caps.permitted | caps.ambient) >> CAP_SYS_PTRACE) & 1) != 0;
}

std::vector<std::string> merge_env(const std::vector<std::string>& container,
                                   const std::vector<std::string>& exec) {
    std::vector<std::string> out = container;
    for (const auto& e : exec) {
        bool replaced = false;
        for (auto& c : out)
            if (env_key(c) == env_key(e)) {
                c = e;
                replaced = true;
            }
        if (!replaced) out.push_back(e);
    }
    return out;
}

struct ExecProcess::State {
    pid_t pid = -1;
    Fd pidfd;
    std::unique_ptr<SeccompNotifier> notifier;
    Fd terminal;  // the master of its pty, until taken
    bool reaped = false;
    ExitStatus exit;

    void reap(bool block) {
        if (reaped || !pidfd) return;
        siginfo_t info{};
        for (;;) {
            int r = ::waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info,
                             WEXITED | (block ? 0 : WNOHANG));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) throw system_error("waitid exec " + std::to_string(pid));
            break;
        }
        if (info.si_pid == 0) return;
        reaped = true;
        if (info.si_code == CLD_EXITED) {
            exit.exit_code = info.si_status;
        } else {
            exit.signal = info.si_status;
            exit.exit_code = 128 + info.si_status;
        }
    }

    // Best effort: a destructor cannot report, and a reap only fails for a pidfd that is
    // not ours.
    void release() noexcept {
        if (pidfd && !reaped) {
            ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
            try {
                reap(true);
            } catch (...) {
            }
        }
        notifier.reset();
    }
};

ExecProcess::ExecProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}
ExecProcess::~ExecProcess() {
    if (state_) state_->release();
}
pid_t ExecProcess::pid() const noexcept {
    return state_->pid;
}
int ExecProcess::pidfd() const noexcept {
    return state_->pidfd.get();
}
Fd ExecProcess::take_terminal() {
    return std::move(state_->terminal);
}
int ExecProcess::seccomp_fd() const noexcept {
    return state_->notifier ? state_->notifier->fd() : -1;
}
std::optional<BlockedSyscall> ExecProcess::handle_seccomp() {
    if (!state_->notifier) return std::nullopt;
    return state_->notifier->handle_one();
}
std::optional<ExitStatus> ExecProcess::try_wait() {
    state_->reap(false);
    if (!state_->reaped) return std::nullopt;
    return state_->exit;
}
ExitStatus ExecProcess::wait() {
    State& s = *state_;
    if (!s.reaped)
        detail::wait_answering_seccomp(
            s.pidfd.get(), seccomp_fd(), [this] { handle_seccomp(); },
            "exec " + std::to_string(s.pid));
    s.reap(true);
    return s.exit;
}
void ExecProcess::kill(int signal) {
    State& s = *state_;
    if (s.reaped) return;
    if (::syscall(SYS_pidfd_send_signal, s.pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
        throw make_error(
            errno == EINVAL ? ErrorKind::invalid : ErrorKind::system,
            "kill exec " + std::to_string(s.pid) + " with signal " + std::to_string(signal), errno);
}

namespace detail {

namespace {

// Everything the child reads, alive in the parent until the child has exec'd.
struct PreparedExec {
    ExecPlan plan;
    PreparedProcess process;  // plan.process points into it
};

std::unique_ptr<PreparedExec> prepare(const ContainerSpec& container, int init_pidfd,
                                      const std::string& seccomp_cache_dir, const ExecSpec& spec) {
    auto p = std::make_unique<PreparedExec>();
    ExecPlan& plan = p->plan;
    bool user_ns = container.has_namespace(NamespaceType::user);
    // Non-dumpable keeps a process in a user namespace from ptracing the child or opening its
    // /proc/<pid>/exe, root or cwd while it is still the monitor's binary, in the monitor's
    // mount namespace and with all its capabilities: the kernel wants CAP_SYS_PTRACE in the
    // user namespace of the child's memory and credentials, the host's. Without a user
    // namespace, a container holding CAP_SYS_PTRACE has exactly that. Then the child must be
    // nothing worth reaching by the time the container can see it: it is confined before it
    // forks the process that enters the container's PID namespace (fork_when_confined,
    // exec_child.hpp), and that process's binary is a sealed copy of the monitor's, not the
    // host's file (runc CVE-2019-5736).
    plan.fork_when_confined = exec_needs_sealed_copy(container);
    if (plan.fork_when_confined && !running_from_sealed_copy())
        throw make_error(ErrorKind::unsupported,
                         "exec into a container with CAP_SYS_PTRACE and no user namespace from "
                         "a process that does not run from a sealed copy of its binary "
                         "(truman/sealed_exe.hpp)");
    for (const auto& ns : container.linux.namespaces) {
        // The PID namespace is entered at birth (spawn_exec), not by setns -- unless the child
        // forks once confined: then setns makes it the namespace of its children.
        if (ns.type != NamespaceType::pid || plan.fork_when_confined)
            plan.ns_flags |= clone_flag(ns.type);
    }
    plan.init_pidfd = init_pidfd;

    // The container's process with the exec's overrides: the same confinement, another
    // program (its env merged over the container's), cwd and user.
    Process process = container.process;
    process.args = spec.args;
    process.env = merge_env(container.process.env, spec.env);
    if (spec.cwd) process.cwd = *spec.cwd;
    if (spec.user) {
        std::optional<uint32_t> umask = process.user.umask;
        process.user = *spec.user;
        if (!process.user.umask) process.user.umask = umask;
    }
    ProcessInputs inputs{process, container.linux};
    inputs.may_setgroups = !(user_ns && must_deny_setgroups());
    inputs.groups_field = "user";
    inputs.seccomp_cache_dir = seccomp_cache_dir;
    inputs.stdio[0] = spec.stdin_fd;
    inputs.stdio[1] = spec.stdout_fd;
    inputs.stdio[2] = spec.stderr_fd;
    inputs.terminal = spec.terminal;
    prepare_process(p->process, inputs);
    plan.process = p->process.plan;
    plan.process.non_dumpable = true;
    plan.process.session_after_fork = plan.fork_when_confined;
    return p;
}

Error exec_error(const ChildReport& r, const ExecSpec& spec, const PreparedExec& p) {
    std::optional<Error> shared = process_error(r, p.process.cwd, spec.args.at(0));
    if (shared) {
        if (shared->kind() != ErrorKind::invalid) return *shared;
        return shared->with_field(r.step == ChildStep::execve ? "cmd" : "cwd");
    }
    Error e = make_error(ErrorKind::system, to_string(r.step), r.err);
    // An id the container's user namespace does not map.
    if ((r.step == ChildStep::setresuid || r.step == ChildStep::setresgid) && r.err == EINVAL)
        return make_error(ErrorKind::invalid, to_string(r.step), r.err).with_field("user");
    return e;
}

// fork_when_confined (exec_child.hpp): the first child reports the PID of the process it
// forked and exits; that process, ours (CLONE_PARENT), is the exec from then on. Reports are
// read to EOF (the first child gone, the second one exec'd), answering seccomp meanwhile:
// the profile may notify the clone, and only we answer it.
void adopt_forked(ExecProcess::State& s, int sync, const ExecSpec& spec, const PreparedExec& p) {
    pid_t forked = -1;
    std::optional<ChildReport> failure;
    bool listening = s.notifier != nullptr;
    for (;;) {
        pollfd fds[2] = {{sync, POLLIN, 0}, {listening ? s.notifier->fd() : -1, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            throw system_error("poll the exec");
        }
        if (fds[1].revents & POLLIN) (void)s.notifier->handle_one();
        if (fds[1].revents & (POLLHUP | POLLERR)) listening = false;
        if (!fds[0].revents) continue;
        ChildReport report{};
        if (!read_report(sync, report, "the exec")) break;
        if (report.step == ChildStep::fork_exec && report.err == 0 && forked < 0)
            forked = report.value;
        else if (!failure)
            failure = report;
    }
    s.reap(true);  // the first child
    if (forked <= 0) {
        if (failure) throw exec_error(*failure, spec, p);
        throw system_error("exec exited before it forked", ECHILD);
    }
    s.pid = forked;
    s.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, forked, 0)));
    s.reaped = false;
    s.exit = {};
    // Our child, not reaped yet: its PID cannot have been reused.
    if (!s.pidfd) throw system_error("pidfd_open exec " + std::to_string(forked));
    if (failure) throw exec_error(*failure, spec, p);
}

}  // namespace

std::unique_ptr<ExecProcess> spawn_exec(const ContainerSpec& container, int init_pidfd,
                                        Cgroup* cgroup, const std::string& seccomp_cache_dir,
                                        const ExecSpec& spec) {
    validate(spec);
    auto p = prepare(container, init_pidfd, seccomp_cache_dir, spec);
    auto state = std::make_unique<ExecProcess::State>();

    // Whatever this process forks is born non-dumpable (the flag lives in the memory image,
    // which the child copies): the child is visible inside the container from its first
    // instruction, long before it is the container's program. The caller, a monitor, needs
    // no core dumps and no ptrace by unprivileged users either.
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) throw system_error("prctl(PR_SET_DUMPABLE)");

    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw system_error("socketpair");
    Fd sync(sv[0]);
    Fd child_end(sv[1]);
    p->plan.sync_fd = child_end.get();
    p->plan.parent_end = sync.get();

    // v1: the child joins the container's cgroups itself (Cgroup::open_join_files).
    // Opened before the PID namespace switch below, which nothing may throw out of.
    JoinFiles joins = open_join_files(cgroup);
    p->plan.cgroup_joins = joins.fds.data();
    p->plan.ncgroup_joins = joins.fds.size();

    bool pid_ns = false;
    for (const auto& ns : container.linux.namespaces)
        pid_ns = pid_ns || ns.type == NamespaceType::pid;

    // A process enters a PID namespace only at birth. So the caller points its
    // pid_for_children at the container's for the one clone3 and back right after (setns
    // allows returning to one's own active namespace). The child is then a direct child of
    // the caller -- no intermediate process whose death would orphan it to the host's init
    // and lose its exit status -- and PID n of the container from the start.
    Fd own_pid_ns;
    if (pid_ns && !p->plan.fork_when_confined) {
        own_pid_ns.reset(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
        if (!own_pid_ns) throw system_error("open /proc/self/ns/pid");
        if (::setns(init_pidfd, CLONE_NEWPID) != 0)
            throw system_error("setns into the container's PID namespace");
    }
    int pidfd = -1;
    struct clone_args args {};
    args.flags = CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    if (cgroup && cgroup->dir_fd() >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(cgroup->dir_fd());
    }
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) detail::exec_child_main(p->plan);  // never returns
    int clone_errno = errno;
    if (own_pid_ns && ::setns(own_pid_ns.get(), CLONE_NEWPID) != 0) {
        // Every later exec would land in this container: stop here, loudly.
        int e = errno;
        if (pid > 0) {
            ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
            siginfo_t info{};
            ::waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &info, WEXITED);
            ::close(pidfd);
        }
        throw system_error("setns back into the monitor's PID namespace", e);
    }
    if (pid < 0) throw system_error("clone3 exec", clone_errno);
    state->pid = static_cast<pid_t>(pid);
    state->pidfd.reset(pidfd);
    child_end.reset();
    ExecProcess::State& s = *state;
    auto process = std::make_unique<ExecProcess>(std::move(state));  // kills it on any throw

    if (cgroup && cgroup->dir_fd() < 0 && joins.fds.empty()) cgroup->add_process(s.pid);
    send_byte(sync.get(), "release the exec");
    ChildReport report{};
    if (!read_report(sync.get(), report, "the exec"))
        throw system_error("exec exited before it was ready", ECHILD);
    if (report.step != ChildStep::ready) throw exec_error(report, spec, *p);
    if (report.value >= 0) {
        int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, s.pidfd.get(), report.value, 0));
        if (fd < 0) throw system_error("pidfd_getfd seccomp listener");
        s.notifier = std::make_unique<SeccompNotifier>(fd, *p->process.seccomp);
    }
    if (report.terminal >= 0) {
        s.terminal.reset(
            static_cast<int>(::syscall(SYS_pidfd_getfd, s.pidfd.get(), report.terminal, 0)));
        if (!s.terminal) throw system_error("pidfd_getfd terminal");
    }
    send_byte(sync.get(), "start the exec");
    if (p->plan.fork_when_confined) {
        adopt_forked(s, sync.get(), spec, *p);
        return process;
    }
    // EOF: execveat succeeded (the child's end is close-on-exec).
    if (read_report(sync.get(), report, "the exec")) throw exec_error(report, spec, *p);
    return process;
}

}  // namespace detail

}  // namespace truman
