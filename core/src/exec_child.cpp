// The child of an exec, between clone3 and execveat. Read exec_child.hpp first; the rules of
// child.cpp hold here too (raw system calls only, no allocation, no exceptions: the file is
// built with -fno-exceptions). The order of the steps in exec_child_main() is the one place
// where the order of joining a container is written down.

#include "exec_child.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child_syscalls.hpp"

namespace truman::detail {

const char* to_string(ExecStep step) noexcept {
    switch (step) {
        case ExecStep::ready:
            return "ready";
        case ExecStep::wait_for_parent:
            return "wait for the parent";
        case ExecStep::reset_signals:
            return "reset signal mask and dispositions";
        case ExecStep::join_namespaces:
            return "setns into the container's namespaces";
        case ExecStep::setrlimit:
            return "setrlimit";
        case ExecStep::drop_bounding_capability:
            return "drop bounding capability";
        case ExecStep::keep_capabilities:
            return "prctl(PR_SET_KEEPCAPS)";
        case ExecStep::setgroups:
            return "setgroups";
        case ExecStep::setresgid:
            return "setresgid";
        case ExecStep::setresuid:
            return "setresuid";
        case ExecStep::capset:
            return "capset";
        case ExecStep::raise_ambient_capability:
            return "raise ambient capability";
        case ExecStep::set_non_dumpable:
            return "prctl(PR_SET_DUMPABLE, 0)";
        case ExecStep::set_stdio:
            return "dup3 stdio";
        case ExecStep::close_descriptors:
            return "close_range";
        case ExecStep::chdir_cwd:
            return "chdir";
        case ExecStep::verify_cwd:
            return "verify the cwd";
        case ExecStep::set_no_new_privs:
            return "prctl(PR_SET_NO_NEW_PRIVS)";
        case ExecStep::load_seccomp:
            return "seccomp(SECCOMP_SET_MODE_FILTER)";
        case ExecStep::report_ready:
            return "report ready";
        case ExecStep::wait_for_start:
            return "wait for start";
        case ExecStep::open_root:
            return "open the container's root";
        case ExecStep::execve:
            return "execveat";
    }
    return "unknown step";
}

namespace {

using namespace child;

[[noreturn]] void fail(const ExecPlan& plan, ExecStep step, long neg_errno,
                       int32_t value = 0) noexcept {
    ExecReport report{step, static_cast<int32_t>(-neg_errno), value};
    ::syscall(SYS_write, plan.sync_fd, &report, sizeof report);
    exit_now(127);
}

#define CHECK(step, expr)                           \
    do {                                            \
        long r_ = sys(expr);                        \
        if (r_ < 0) fail(plan, ExecStep::step, r_); \
    } while (0)

#define CHECK_AT(step, index, expr)                                              \
    do {                                                                         \
        long r_ = sys(expr);                                                     \
        if (r_ < 0) fail(plan, ExecStep::step, r_, static_cast<int32_t>(index)); \
    } while (0)

bool has_cap(uint64_t mask, int cap) noexcept {
    return (mask >> cap) & 1;
}

long load_filter(const ExecPlan& plan) noexcept {
    struct sock_fprog prog {
        plan.seccomp_len, const_cast<sock_filter*>(plan.seccomp_filter)
    };
    return sys(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog));
}

// As in child.cpp: every source copied above 2 first, so that one sitting in 0-2 for another
// slot is not overwritten before it is used.
void install_stdio(const ExecPlan& plan) noexcept {
    int copies[3];
    for (int slot = 0; slot < 3; ++slot) {
        long fd = sys(::syscall(SYS_fcntl, plan.stdio[slot], F_DUPFD_CLOEXEC, 3));
        if (fd < 0) fail(plan, ExecStep::set_stdio, fd, slot);
        copies[slot] = static_cast<int>(fd);
    }
    for (int slot = 0; slot < 3; ++slot)
        CHECK_AT(set_stdio, slot, ::syscall(SYS_dup3, copies[slot], slot, 0));
}

// The cwd, resolved beneath the container's root (our "/" since setns entered its mount
// namespace) and proven to be inside it: the kernel reports a cwd outside the root as
// "(unreachable)/...". By now only 0-2, the sync socket and the listener are open, so no
// inherited directory can be the start of a "/proc/self/fd/N/.." walk (runc CVE-2024-21626).
void enter_cwd(const ExecPlan& plan) noexcept {
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) fail(plan, ExecStep::chdir_cwd, rootfd);
    long fd = open_beneath(static_cast<int>(rootfd), plan.cwd, O_PATH | O_DIRECTORY);
    close_fd(static_cast<int>(rootfd));
    if (fd < 0) fail(plan, ExecStep::chdir_cwd, fd);
    long r = sys(::syscall(SYS_fchdir, fd));
    close_fd(static_cast<int>(fd));
    if (r < 0) fail(plan, ExecStep::chdir_cwd, r);
    char buf[4096];
    long n = sys(::syscall(SYS_getcwd, buf, sizeof buf));
    if (n < 0) fail(plan, ExecStep::verify_cwd, n);
    if (n < 2 || buf[0] != '/') fail(plan, ExecStep::verify_cwd, -EXDEV);
}

}  // namespace

void exec_child_main(const ExecPlan& plan) noexcept {
    // 1. We were born non-dumpable (the monitor is, see exec.cpp) and in the container's PID
    //    namespace, so the container can see us already; it must not reach the monitor's
    //    binary through /proc/<pid>/exe or ptrace us while we are still that binary (runc
    //    CVE-2019-5736). Wait for the parent (cgroup v1 placement), then forget its signal
    //    mask and dispositions.
    close_fd(plan.parent_end);
    long r = wait_byte(plan.sync_fd);
    if (r < 0) fail(plan, ExecStep::wait_for_parent, r);
    if (r == 0) exit_now(0);
    CHECK(reset_signals, reset_signals());

    // 2. Every namespace in one call; the kernel enters the user namespace first, which gives
    //    us the capabilities the others need, and sets root and cwd to the root of the
    //    container's mount namespace (its pivoted root).
    if (plan.ns_flags) CHECK(join_namespaces, ::syscall(SYS_setns, plan.init_pidfd, plan.ns_flags));

    // 3. Resource limits, while we still may lower hard limits; then the bounding set, which
    //    needs CAP_SETPCAP (so before the user switch).
    for (size_t i = 0; i < plan.nrlimits; ++i)
        CHECK_AT(
            setrlimit, i,
            ::syscall(SYS_prlimit64, 0, plan.rlimit_resources[i], &plan.rlimit_values[i], nullptr));
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (!has_cap(plan.cap_bounding, cap))
            CHECK_AT(drop_bounding_capability, cap,
                     ::syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0));

    // 4. Without no_new_privs the filter needs CAP_SYS_ADMIN, which the user switch may drop:
    //    then it goes in now (as for the init: child.cpp, step 10).
    int listener = -1;
    if (plan.seccomp_filter && !plan.no_new_privs) {
        long fd = load_filter(plan);
        if (fd < 0) fail(plan, ExecStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }

    // 5. The user: groups before gid before uid, each needing the privilege the next drops;
    //    capset decides what stays. A credential change resets "dumpable" to
    //    fs.suid_dumpable, which an administrator may have set to 1: clear it again.
    CHECK(keep_capabilities, ::syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0));
    if (plan.may_setgroups) CHECK(setgroups, ::syscall(SYS_setgroups, plan.ngroups, plan.groups));
    CHECK(setresgid, ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid));
    CHECK(setresuid, ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid));
    {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[2];
        for (int i = 0; i < 2; ++i) {
            data[i].effective = static_cast<uint32_t>(plan.cap_effective >> (32 * i));
            data[i].permitted = static_cast<uint32_t>(plan.cap_permitted >> (32 * i));
            data[i].inheritable = static_cast<uint32_t>(plan.cap_inheritable >> (32 * i));
        }
        CHECK(capset, ::syscall(SYS_capset, &header, data));
    }
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (has_cap(plan.cap_ambient, cap))
            CHECK_AT(raise_ambient_capability, cap,
                     ::syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
    CHECK(set_non_dumpable, ::syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0));
    if (plan.umask >= 0) ::syscall(SYS_umask, plan.umask);

    // 6. stdio, then every other descriptor of the monitor's is closed (its log, its sockets,
    //    the container's pidfd and cgroup directory) before the cwd is entered.
    install_stdio(plan);
    {
        int keep[] = {0, 1, 2, plan.sync_fd, listener};
        long res = close_all_except(keep, sizeof keep / sizeof keep[0]);
        if (res < 0) fail(plan, ExecStep::close_descriptors, res);
    }
    enter_cwd(plan);

    // 7. no_new_privs, then seccomp last. From here on only the calls of
    //    kSyscallsAfterSeccomp (child.hpp) are made.
    if (plan.no_new_privs)
        CHECK(set_no_new_privs, ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    if (plan.seccomp_filter && plan.no_new_privs) {
        long fd = load_filter(plan);
        if (fd < 0) fail(plan, ExecStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }
    if (!(plan.seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) listener = -1;

    // 8. Tell the parent which fd is our listener (it takes a copy with pidfd_getfd) and wait
    //    until it has; EOF means it gave up on us.
    ExecReport ready{ExecStep::ready, 0, listener};
    if (sys(::syscall(SYS_write, plan.sync_fd, &ready, sizeof ready)) != sizeof ready)
        fail(plan, ExecStep::report_ready, -errno);
    r = wait_byte(plan.sync_fd);
    if (r < 0) fail(plan, ExecStep::wait_for_start, r);
    if (r == 0) exit_now(0);
    close_fd(listener);

    // 9. The program is the container's: each candidate is opened beneath the container's
    //    root and executed through that descriptor, so nothing outside the root is ever
    //    resolved. A script run through a close-on-exec descriptor fails with ENOENT (its
    //    interpreter would get a /dev/fd path that is gone); only then is the path itself
    //    executed, which resolves in the same root (ours is the container's).
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) fail(plan, ExecStep::open_root, rootfd);
    long last = -ENOENT;
    for (size_t i = 0; i < plan.nexec_paths; ++i) {
        long fd = open_beneath(static_cast<int>(rootfd), plan.exec_paths[i], O_PATH);
        long e = fd;
        if (fd >= 0) {
            e = sys(::syscall(SYS_execveat, fd, "", plan.argv, plan.envp, AT_EMPTY_PATH));
            close_fd(static_cast<int>(fd));
            if (e == -ENOENT)
                e = sys(::syscall(SYS_execve, plan.exec_paths[i], plan.argv, plan.envp));
        }
        if (e != -ENOENT && e != -ENOTDIR) last = e;
        if (e != -ENOENT && e != -EACCES && e != -ENOTDIR) break;
    }
    fail(plan, ExecStep::execve, last);
}

}  // namespace truman::detail
