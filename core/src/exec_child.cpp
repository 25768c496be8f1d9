// The child of an exec, between clone3 and execveat. Read exec_child.hpp first; the rules of
// child.cpp hold here too (raw system calls only, no allocation, no exceptions: the file is
// built with -fno-exceptions). The order of the steps in exec_child_main() is the one place
// where the order of joining a container is written down.

#include "exec_child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child_syscalls.hpp"

namespace truman::detail {

void exec_child_main(const ExecPlan& plan) noexcept {
    using namespace child;
    // 1. We were born non-dumpable (the monitor is, see exec.cpp) and in the container's PID
    //    namespace, so the container can see us already; it must not reach the monitor's
    //    binary through /proc/<pid>/exe or ptrace us while we are still that binary (runc
    //    CVE-2019-5736). Wait for the parent, join the container's v1 cgroups (its cgroup2
    //    one we were born in), then forget the parent's signal mask and dispositions.
    close_fd(plan.parent_end);
    long r = wait_byte(plan.sync_fd);
    if (r < 0) report_failure(plan.sync_fd, ChildStep::wait_for_parent, r);
    if (r == 0) exit_now(0);
    size_t failed = 0;
    r = join_cgroups(plan.cgroup_joins, plan.ncgroup_joins, &failed);
    if (r < 0)
        report_failure(plan.sync_fd, ChildStep::join_cgroup, r, static_cast<int32_t>(failed));
    r = reset_signals();
    if (r < 0) report_failure(plan.sync_fd, ChildStep::reset_signals, r);

    // 2. Every namespace in one call; the kernel enters the user namespace first, which gives
    //    us the capabilities the others need, and sets root and cwd to the root of the
    //    container's mount namespace (its pivoted root).
    if (plan.ns_flags) {
        r = sys(::syscall(SYS_setns, plan.init_pidfd, plan.ns_flags));
        if (r < 0) report_failure(plan.sync_fd, ChildStep::join_container, r);
    }

    // 3. Confined exactly as the init (child_confine.cpp): limits, capabilities, the user
    //    (non-dumpable again after it), stdio, every descriptor of the monitor's closed (its
    //    log, its sockets, the container's pidfd and cgroup directory) before the cwd is
    //    entered, no_new_privs, seccomp. Then parked until the monitor has taken the listener.
    Confined confined = confine(plan.process, plan.sync_fd, &plan.sync_fd, 1);
    park(plan.sync_fd, plan.sync_fd, confined);

    // 3b. fork_when_confined (exec_child.hpp): the container sees only the forked process,
    //     which is in every one of its namespaces and holds its credentials, capabilities and
    //     seccomp filter from its first instruction; its binary is the monitor's sealed copy
    //     (exec.cpp checks). Plain clone, not clone3: seccomp profiles check clone's flags and
    //     refuse clone3. With a terminal, the forked process leads its session (the exit of
    //     a session leader would take the terminal from it).
    if (plan.fork_when_confined) {
        long pid = sys(::syscall(SYS_clone, CLONE_PARENT, 0, nullptr, nullptr, 0));
        if (pid < 0) report_failure(plan.sync_fd, ChildStep::fork_exec, pid);
        if (pid > 0) {
            ChildReport forked{ChildStep::fork_exec, 0, static_cast<int32_t>(pid)};
            ::syscall(SYS_write, plan.sync_fd, &forked, sizeof forked);
            exit_now(0);
        }
        if (plan.process.terminal) {
            r = sys(::syscall(SYS_setsid));
            if (r < 0) report_failure(plan.sync_fd, ChildStep::set_controlling_terminal, r);
            r = sys(::syscall(SYS_ioctl, 0, TIOCSCTTY, 0));
            if (r < 0) report_failure(plan.sync_fd, ChildStep::set_controlling_terminal, r);
        }
    }

    // 4. The program is the container's: each candidate is opened beneath the container's
    //    root and executed through that descriptor, so nothing outside the root is ever
    //    resolved. A script run through a close-on-exec descriptor fails with ENOENT (its
    //    interpreter would get a /dev/fd path that is gone); only then is the path itself
    //    executed, which resolves in the same root (ours is the container's).
    const ProcessPlan& process = plan.process;
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) report_failure(plan.sync_fd, ChildStep::open_root, rootfd);
    long last = -ENOENT;
    for (size_t i = 0; i < process.nexec_paths; ++i) {
        long fd = open_beneath(static_cast<int>(rootfd), process.exec_paths[i], O_PATH);
        long e = fd;
        if (fd >= 0) {
            e = sys(::syscall(SYS_execveat, fd, "", process.argv, process.envp, AT_EMPTY_PATH));
            close_fd(static_cast<int>(fd));
            if (e == -ENOENT)
                e = sys(::syscall(SYS_execve, process.exec_paths[i], process.argv, process.envp));
        }
        if (e != -ENOENT && e != -ENOTDIR) last = e;
        if (e != -ENOENT && e != -EACCES && e != -ENOTDIR) break;
    }
    report_failure(plan.sync_fd, ChildStep::execve, last);
}

}  // namespace truman::detail
