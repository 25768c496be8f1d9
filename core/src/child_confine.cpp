// The confinement of a container's process (child_confine.hpp). Rules of child.cpp: raw
// system calls only, no allocation, no exceptions (built with -fno-exceptions).

#include "child_confine.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "child_report.hpp"
#include "child_syscalls.hpp"

namespace truman::detail {

namespace {

using namespace child;

// Every failure below goes to the one report descriptor of the calling child.
struct Steps {
    int report_fd;

    void check(ChildStep step, long r, int32_t value = 0) const noexcept {
        long res = sys(r);
        if (res < 0) report_failure(report_fd, step, res, value);
    }
};

bool has_cap(uint64_t mask, int cap) noexcept {
    return (mask >> cap) & 1;
}

int load_filter(const ProcessPlan& plan, const Steps& steps) noexcept {
    struct sock_fprog prog {
        plan.seccomp_len, const_cast<sock_filter*>(plan.seccomp_filter)
    };
    long fd = sys(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog));
    if (fd < 0) report_failure(steps.report_fd, ChildStep::load_seccomp, fd);
    return static_cast<int>(fd);
}

// The user: keep permitted capabilities across setuid (capset decides what stays); groups
// before gid before uid, since each needs the privilege the next drops. Raw setres*id:
// glibc's wrappers broadcast the change to every thread with a signal (setxid), which needs
// its locks; this process has one thread, and the kernel call is all we want.
void become_user(const ProcessPlan& plan, const Steps& steps) noexcept {
    steps.check(ChildStep::keep_capabilities, ::syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0));
    if (plan.may_setgroups)
        steps.check(ChildStep::setgroups, ::syscall(SYS_setgroups, plan.ngroups, plan.groups));
    steps.check(ChildStep::setresgid, ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid));
    steps.check(ChildStep::setresuid, ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2];
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<uint32_t>(plan.cap_effective >> (32 * i));
        data[i].permitted = static_cast<uint32_t>(plan.cap_permitted >> (32 * i));
        data[i].inheritable = static_cast<uint32_t>(plan.cap_inheritable >> (32 * i));
    }
    steps.check(ChildStep::capset, ::syscall(SYS_capset, &header, data));
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (has_cap(plan.cap_ambient, cap))
            steps.check(ChildStep::raise_ambient_capability,
                        ::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), cap);
}

// Make stdio[0..2] the process's 0, 1 and 2. Every source is first copied above 2, so
// that a source sitting in 0-2 for another slot (stdio = {1, 0, 2}) is not overwritten
// before it is used; dup3 clears FD_CLOEXEC on the copies, which is what 0-2 need.
void install_stdio(const int (&stdio)[3], const Steps& steps) noexcept {
    int copies[3];
    for (int slot = 0; slot < 3; ++slot) {
        copies[slot] = -1;
        if (stdio[slot] == slot) continue;
        long fd = sys(::syscall(SYS_fcntl, stdio[slot], F_DUPFD_CLOEXEC, 3));
        if (fd < 0) report_failure(steps.report_fd, ChildStep::set_stdio, fd, slot);
        copies[slot] = static_cast<int>(fd);
    }
    for (int slot = 0; slot < 3; ++slot) {
        if (copies[slot] < 0)
            steps.check(ChildStep::set_stdio, ::syscall(SYS_fcntl, slot, F_SETFD, 0), slot);
        else
            steps.check(ChildStep::set_stdio, ::syscall(SYS_dup3, copies[slot], slot, 0), slot);
    }
}

// Enter plan.cwd, resolved beneath the container's root (our "/"), and prove the result is
// inside it: the kernel reports a cwd that is not beneath the root as "(unreachable)/...".
// By now no descriptor but 0-2, the sync socket and the seccomp listener is open, so there is
// no inherited directory a "/proc/self/fd/N" or ".." walk could start from (runc
// CVE-2024-21626).
void enter_cwd(const ProcessPlan& plan, const Steps& steps) noexcept {
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) report_failure(steps.report_fd, ChildStep::chdir_cwd, rootfd);
    long fd = open_beneath(static_cast<int>(rootfd), plan.cwd, O_PATH | O_DIRECTORY);
    close_fd(static_cast<int>(rootfd));
    if (fd < 0) report_failure(steps.report_fd, ChildStep::chdir_cwd, fd);
    long r = sys(::syscall(SYS_fchdir, fd));
    close_fd(static_cast<int>(fd));
    if (r < 0) report_failure(steps.report_fd, ChildStep::chdir_cwd, r);
    char buf[4096];
    long n = sys(::syscall(SYS_getcwd, buf, sizeof buf));
    if (n < 0) report_failure(steps.report_fd, ChildStep::verify_cwd, n);
    if (n < 2 || buf[0] != '/') report_failure(steps.report_fd, ChildStep::verify_cwd, -EXDEV);
}

// A new pty of the container's own devpts: /dev/pts/ptmx resolved beneath our root (the
// container's), so the slave is /dev/pts/N inside and a symlink planted in the rootfs leads
// nowhere else. Opened as the process's user: the slave is owned by it. TIOCGPTPEER opens
// the slave through the master, without a path that could be swapped in between. Returns
// the master; *slave gets the slave (both close-on-exec).
int open_terminal(const Steps& steps, int* slave) noexcept {
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) report_failure(steps.report_fd, ChildStep::open_terminal, rootfd);
    long master = open_beneath(static_cast<int>(rootfd), "dev/pts/ptmx", O_RDWR | O_NOCTTY);
    close_fd(static_cast<int>(rootfd));
    if (master < 0) report_failure(steps.report_fd, ChildStep::open_terminal, master);
    int unlock = 0;
    steps.check(ChildStep::open_terminal, ::syscall(SYS_ioctl, master, TIOCSPTLCK, &unlock));
    long peer = sys(::syscall(SYS_ioctl, master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (peer < 0) report_failure(steps.report_fd, ChildStep::open_terminal, peer);
    *slave = static_cast<int>(peer);
    return static_cast<int>(master);
}

}  // namespace

Confined confine(const ProcessPlan& plan, int report_fd, const int* keep, size_t nkeep) noexcept {
    const Steps steps{report_fd};

    // 1. Resource limits, while we still may lower hard limits; then the bounding set, which
    //    needs CAP_SETPCAP (so before the user switch).
    for (size_t i = 0; i < plan.nrlimits; ++i)
        steps.check(
            ChildStep::setrlimit,
            ::syscall(SYS_prlimit64, 0, plan.rlimit_resources[i], &plan.rlimit_values[i], nullptr),
            static_cast<int32_t>(i));
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (!has_cap(plan.cap_bounding, cap))
            steps.check(ChildStep::drop_bounding_capability,
                        ::syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0), cap);

    // 2. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user switch
    //    below may drop: so the filter goes in now (the default profile allows the rest).
    //    From here on only the calls in kSyscallsAfterSeccomp are made.
    int listener = -1;
    if (plan.seccomp_filter && !plan.no_new_privs) listener = load_filter(plan, steps);

    // 3. The user and its capabilities. A credential change resets "dumpable" to
    //    fs.suid_dumpable, which an administrator may have set to 1: clear it again if asked.
    become_user(plan, steps);
    if (plan.non_dumpable)
        steps.check(ChildStep::set_non_dumpable, ::syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0));
    if (plan.umask >= 0) ::syscall(SYS_umask, plan.umask);

    // 4. stdio, then close everything else the process must not have: whatever we inherited
    //    (a cgroup directory fd, a log, a caller's stray descriptor) is gone before the cwd is
    //    entered, so it cannot serve as a way out (step 5). keep[] (the caller's sync socket,
    //    close-on-exec), the listener and the terminal's master (closed by park) stay until
    //    execve. With a terminal, its slave is 0-2 and then our controlling terminal, which
    //    needs a session without one: the init made its own already (EPERM: it leads it), an
    //    exec makes one now.
    int terminal = -1;
    if (plan.terminal) {
        int slave = -1;
        terminal = open_terminal(steps, &slave);
        const int stdio[3] = {slave, slave, slave};
        install_stdio(stdio, steps);
        close_fd(slave);
        if (!plan.session_after_fork) {
            long sid = sys(::syscall(SYS_setsid));
            if (sid < 0 && sid != -EPERM)
                report_failure(report_fd, ChildStep::set_controlling_terminal, sid);
            steps.check(ChildStep::set_controlling_terminal, ::syscall(SYS_ioctl, 0, TIOCSCTTY, 0));
        }
    } else {
        install_stdio(plan.stdio, steps);
    }
    {
        int kept[16];
        size_t n = 0;
        kept[n++] = 0;
        kept[n++] = 1;
        kept[n++] = 2;
        kept[n++] = listener;
        kept[n++] = terminal;
        for (size_t i = 0; i < nkeep && n < sizeof kept / sizeof kept[0]; ++i) kept[n++] = keep[i];
        long res = close_all_except(kept, n);
        if (res < 0) report_failure(report_fd, ChildStep::close_descriptors, res);
    }

    // 5. The cwd, resolved inside the root and verified (see enter_cwd).
    enter_cwd(plan, steps);

    // 6. no_new_privs, then seccomp last: the filter may block what the steps above need.
    if (plan.no_new_privs)
        steps.check(ChildStep::set_no_new_privs,
                    ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    if (plan.seccomp_filter && plan.no_new_privs) listener = load_filter(plan, steps);
    if (!(plan.seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) listener = -1;
    return {listener, terminal};
}

void park(int report_fd, int start_fd, Confined confined) noexcept {
    ChildReport ready{ChildStep::ready, 0, confined.listener, confined.terminal};
    if (sys(::syscall(SYS_write, report_fd, &ready, sizeof ready)) != sizeof ready)
        report_failure(report_fd, ChildStep::report_ready, -errno);
    long r = wait_byte(start_fd);
    if (r < 0) report_failure(report_fd, ChildStep::wait_for_start, r);
    if (r == 0) exit_now(0);
    close_fd(confined.listener);
    close_fd(confined.terminal);
}

}  // namespace truman::detail
