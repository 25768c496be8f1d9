// The child between clone() and execve(). Read child.hpp first.
//
// Rules for this file: raw system calls only (through syscall(2) and the tiny wrappers below,
// so that no libc wrapper and no sanitizer interceptor runs here), no allocation, no
// std::string, no locks, no logging, no exceptions (the file is built with -fno-exceptions).
// The order of the steps in child_main() is the one place where the order of container set-up
// is written down.

#include "child.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child_syscalls.hpp"

namespace truman::detail {

const char* to_string(ChildStep step) noexcept {
    switch (step) {
        case ChildStep::ready:
            return "ready";
        case ChildStep::wait_for_parent:
            return "wait for the parent";
        case ChildStep::join_namespace:
            return "setns";
        case ChildStep::unshare_cgroup_namespace:
            return "unshare(CLONE_NEWCGROUP)";
        case ChildStep::become_container_root:
            return "setresuid/setresgid to container root";
        case ChildStep::setsid:
            return "setsid";
        case ChildStep::loopback_up:
            return "bring lo up";
        case ChildStep::sethostname:
            return "sethostname";
        case ChildStep::setdomainname:
            return "setdomainname";
        case ChildStep::make_root_private:
            return "make / private";
        case ChildStep::mount_root:
            return "mount the root filesystem";
        case ChildStep::fs_op:
            return "mount";
        case ChildStep::pivot_root:
            return "pivot_root";
        case ChildStep::detach_old_root:
            return "umount2 old root";
        case ChildStep::chdir_root:
            return "chdir /";
        case ChildStep::remount_root_readonly:
            return "remount / read-only";
        case ChildStep::set_root_propagation:
            return "set rootfs propagation";
        case ChildStep::setrlimit:
            return "setrlimit";
        case ChildStep::drop_bounding_capability:
            return "drop bounding capability";
        case ChildStep::keep_capabilities:
            return "prctl(PR_SET_KEEPCAPS)";
        case ChildStep::setgroups:
            return "setgroups";
        case ChildStep::setresgid:
            return "setresgid";
        case ChildStep::setresuid:
            return "setresuid";
        case ChildStep::capset:
            return "capset";
        case ChildStep::raise_ambient_capability:
            return "raise ambient capability";
        case ChildStep::set_umask:
            return "umask";
        case ChildStep::set_stdio:
            return "dup3 stdio";
        case ChildStep::close_descriptors:
            return "close_range";
        case ChildStep::chdir_cwd:
            return "chdir";
        case ChildStep::verify_cwd:
            return "verify the cwd";
        case ChildStep::reset_signals:
            return "reset signal mask and dispositions";
        case ChildStep::open_root:
            return "open the container's root";
        case ChildStep::set_no_new_privs:
            return "prctl(PR_SET_NO_NEW_PRIVS)";
        case ChildStep::load_seccomp:
            return "seccomp(SECCOMP_SET_MODE_FILTER)";
        case ChildStep::report_ready:
            return "report ready";
        case ChildStep::wait_for_start:
            return "wait for start";
        case ChildStep::execve:
            return "execve";
    }
    return "unknown step";
}

namespace {

using namespace child;

[[noreturn]] void fail(const ChildPlan& plan, ChildStep step, long neg_errno,
                       int32_t value = 0) noexcept {
    ChildReport report{step, static_cast<int32_t>(-neg_errno), value};
    // A short write can only mean the parent is gone; nothing more to do either way.
    ::syscall(SYS_write, plan.status_fd, &report, sizeof report);
    exit_now(127);
}

#define CHECK(step, expr)                            \
    do {                                             \
        long r_ = sys(expr);                         \
        if (r_ < 0) fail(plan, ChildStep::step, r_); \
    } while (0)

#define CHECK_AT(step, index, expr)                                               \
    do {                                                                          \
        long r_ = sys(expr);                                                      \
        if (r_ < 0) fail(plan, ChildStep::step, r_, static_cast<int32_t>(index)); \
    } while (0)

// Make plan.stdio[0..2] the container's 0, 1 and 2. Every source is first copied above 2,
// so that a source sitting in 0-2 for another slot (stdio = {1, 0, 2}) is not overwritten
// before it is used; dup3 clears FD_CLOEXEC on the copies, which is what 0-2 need.
void install_stdio(const ChildPlan& plan) noexcept {
    int copies[3];
    for (int slot = 0; slot < 3; ++slot) {
        copies[slot] = -1;
        if (plan.stdio[slot] == slot) continue;
        long fd = sys(::syscall(SYS_fcntl, plan.stdio[slot], F_DUPFD_CLOEXEC, 3));
        if (fd < 0) fail(plan, ChildStep::set_stdio, fd, slot);
        copies[slot] = static_cast<int>(fd);
    }
    for (int slot = 0; slot < 3; ++slot) {
        if (copies[slot] < 0)
            CHECK_AT(set_stdio, slot, ::syscall(SYS_fcntl, slot, F_SETFD, 0));
        else
            CHECK_AT(set_stdio, slot, ::syscall(SYS_dup3, copies[slot], slot, 0));
    }
}

// Enter plan.cwd, resolved beneath the container's root (now "/"), and prove the result is
// inside it: the kernel reports a cwd that is not beneath the root as "(unreachable)/...".
// By now no descriptor but 0-2, the sync socket and the seccomp listener is open, so there is
// no inherited directory a "/proc/self/fd/N" or ".." walk could start from (runc
// CVE-2024-21626).
void enter_cwd(const ChildPlan& plan) noexcept {
    long rootfd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootfd < 0) fail(plan, ChildStep::chdir_cwd, rootfd);
    long fd = open_beneath(static_cast<int>(rootfd), plan.cwd, O_PATH | O_DIRECTORY);
    close_fd(static_cast<int>(rootfd));
    if (fd < 0) fail(plan, ChildStep::chdir_cwd, fd);
    long r = sys(::syscall(SYS_fchdir, fd));
    close_fd(static_cast<int>(fd));
    if (r < 0) fail(plan, ChildStep::chdir_cwd, r);
    char buf[4096];
    long n = sys(::syscall(SYS_getcwd, buf, sizeof buf));
    if (n < 0) fail(plan, ChildStep::verify_cwd, n);
    if (n < 2 || buf[0] != '/') fail(plan, ChildStep::verify_cwd, -EXDEV);
}

bool has_cap(uint64_t mask, int cap) noexcept {
    return (mask >> cap) & 1;
}

long load_filter(const ChildPlan& plan) noexcept {
    struct sock_fprog prog {
        plan.seccomp_len, const_cast<sock_filter*>(plan.seccomp_filter)
    };
    return sys(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog));
}

}  // namespace

void child_main(const ChildPlan& plan) noexcept {
    // 1. Wait until the parent has written our uid/gid maps, put us in our cgroup and made
    //    our network: everything below may depend on them. Then forget the caller's signal
    //    mask and ignored signals, which execve would otherwise hand to the container.
    close_fd(plan.parent_end);
    long r = wait_byte(plan.go_fd);
    if (r < 0) fail(plan, ChildStep::wait_for_parent, r);
    if (r == 0) exit_now(0);
    CHECK(reset_signals, reset_signals());

    // 2. Namespaces given by path (shared with another container or `ip netns`).
    for (size_t i = 0; i < plan.njoins; ++i)
        CHECK_AT(join_namespace, i, ::syscall(SYS_setns, plan.joins[i].fd, plan.joins[i].nstype));

    // 3. The cgroup namespace is unshared only now, after the parent moved us into our
    //    cgroup: its root is the cgroup we are in when it is created.
    if (plan.unshare_cgroup_namespace)
        CHECK(unshare_cgroup_namespace, ::syscall(SYS_unshare, CLONE_NEWCGROUP));

    // 4. In a new user namespace we start as the overflow uid with all capabilities in it;
    //    become the mapped root now, so that what we create in the filesystems mounted below
    //    (tmpfs /dev, ...) is owned by a uid the namespace knows (the kernel refuses, with
    //    EOVERFLOW, to create inodes for an unmapped owner). The rootfs must then be writable
    //    by the mapped root wherever a mount point has to be made. Raw setres*id: glibc's
    //    wrappers broadcast the change to every thread with a signal (setxid), which needs
    //    its locks; this process has one thread, and the kernel call is all we want.
    if (plan.user_namespace) {
        CHECK(become_container_root, ::syscall(SYS_setresgid, 0, 0, 0));
        CHECK(become_container_root, ::syscall(SYS_setresuid, 0, 0, 0));
    }

    // 5. Our own session: no controlling terminal, no signals from the host's session.
    CHECK(setsid, ::syscall(SYS_setsid));
    if (plan.loopback_up) {
        long res = bring_loopback_up();
        if (res < 0) fail(plan, ChildStep::loopback_up, res);
    }

    if (plan.hostname)
        CHECK(sethostname, ::syscall(SYS_sethostname, plan.hostname, length(plan.hostname)));
    if (plan.domainname)
        CHECK(setdomainname,
              ::syscall(SYS_setdomainname, plan.domainname, length(plan.domainname)));

    // 6. The filesystem. "/" becomes private first so that nothing we mount propagates back
    //    to the host; the new root must be a mount point for pivot_root, hence the overlay or
    //    the recursive bind of the rootfs onto itself. Every op then resolves its own path
    //    beneath the root as it stands at that moment (see child.hpp), so a link that an
    //    earlier mount brought in (a volume) is followed inside the root, never out of it.
    CHECK(make_root_private,
          ::syscall(SYS_mount, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
    // An image's layers are named relative to the store's short links (overlay_cwd): the
    // kernel resolves relative lowerdirs against the cwd of the caller of mount(2). The cwd
    // moves into the new root before pivot_root below, so nothing keeps the store pinned.
    if (plan.overlay_cwd) CHECK(mount_root, ::syscall(SYS_chdir, plan.overlay_cwd));
    if (plan.overlay_data)
        CHECK(mount_root,
              ::syscall(SYS_mount, "overlay", plan.rootfs, "overlay", 0, plan.overlay_data));
    else
        CHECK(mount_root,
              ::syscall(SYS_mount, plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REC, nullptr));
    {
        // Opened after the root mount, so that it is the overlay (or bind), not what is under.
        long fd = sys(::syscall(SYS_openat, AT_FDCWD, plan.rootfs,
                                O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd < 0) fail(plan, ChildStep::open_root, fd);
        ChildFd root(fd);
        for (size_t i = 0; i < plan.nfs_ops; ++i) {
            long res = run_fs_op(root.fd, plan.fs_ops[i]);
            if (res == -ENOENT && plan.fs_ops[i].optional) continue;
            if (res < 0) fail(plan, ChildStep::fs_op, res, static_cast<int32_t>(i));
        }

        // 7. pivot_root(".", ".") stacks the old root under the new one; detaching "." then
        //    removes the old root, so nothing of the host's tree stays reachable.
        CHECK(pivot_root, ::syscall(SYS_fchdir, root.fd));
    }
    CHECK(pivot_root, ::syscall(SYS_pivot_root, ".", "."));
    CHECK(detach_old_root, ::syscall(SYS_umount2, ".", MNT_DETACH));
    CHECK(chdir_root, ::syscall(SYS_chdir, "/"));
    if (plan.readonly_root) {
        long fd = sys(::syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (fd < 0) fail(plan, ChildStep::remount_root_readonly, fd);
        ChildFd root(fd);
        long res = bind_remount(root.fd, MS_RDONLY);
        if (res < 0) fail(plan, ChildStep::remount_root_readonly, res);
    }
    if (plan.root_propagation)
        CHECK(set_root_propagation,
              ::syscall(SYS_mount, nullptr, "/", nullptr, plan.root_propagation, nullptr));

    // 8. Resource limits, while we still may lower hard limits.
    for (size_t i = 0; i < plan.nrlimits; ++i)
        CHECK_AT(
            setrlimit, i,
            ::syscall(SYS_prlimit64, 0, plan.rlimit_resources[i], &plan.rlimit_values[i], nullptr));

    // 9. The bounding set needs CAP_SETPCAP, so it is trimmed before the user switch.
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (!has_cap(plan.cap_bounding, cap))
            CHECK_AT(drop_bounding_capability, cap,
                     ::syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0));

    // 10. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user switch
    //     below may drop: so the filter goes in now (the default profile allows the rest).
    //     From here on the child makes only the calls in kSyscallsAfterSeccomp (child.hpp).
    int listener = -1;
    if (plan.seccomp_filter && !plan.no_new_privs) {
        long fd = load_filter(plan);
        if (fd < 0) fail(plan, ChildStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }

    // 11. The user: keep permitted capabilities across setuid (capset below decides what
    //     stays); groups before gid before uid, since each needs the privilege the next drops.
    //     Raw calls for the reason given at step 4.
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
    if (plan.umask >= 0) ::syscall(SYS_umask, plan.umask);

    // 12. stdio, then close everything else the container must not have: whatever we
    //     inherited (a cgroup directory fd, a caller's stray descriptor) is gone before the
    //     cwd is entered, so it cannot serve as a way out (step 13). The sync socket and the
    //     listener stay until execve (the socket is close-on-exec; the listener is closed).
    install_stdio(plan);
    {
        int keep[] = {0, 1, 2, plan.status_fd, plan.start_fd, plan.go_fd, listener};
        long res = close_all_except(keep, sizeof keep / sizeof keep[0]);
        if (res < 0) fail(plan, ChildStep::close_descriptors, res);
    }

    // 13. The cwd, resolved inside the root and verified (see enter_cwd).
    enter_cwd(plan);

    // 14. no_new_privs, then seccomp last: the filter may block what the steps above need.
    if (plan.no_new_privs)
        CHECK(set_no_new_privs, ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    if (plan.seccomp_filter && plan.no_new_privs) {
        long fd = load_filter(plan);
        if (fd < 0) fail(plan, ChildStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }
    if (!(plan.seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) listener = -1;

    // 15. Parked: tell the parent (and which fd is our seccomp listener, for pidfd_getfd),
    //     then wait for start. EOF on start_fd means the container was destroyed unstarted.
    ChildReport ready{ChildStep::ready, 0, listener};
    if (sys(::syscall(SYS_write, plan.status_fd, &ready, sizeof ready)) != sizeof ready)
        fail(plan, ChildStep::report_ready, -errno);
    r = wait_byte(plan.start_fd);
    if (r < 0) fail(plan, ChildStep::wait_for_start, r);
    if (r == 0) exit_now(0);
    close_fd(listener);

    // 16. execve each candidate in PATH order, like execvp: ENOENT/EACCES/ENOTDIR try the
    //     next, and the first other error (or the last one seen) is what we report.
    long last = -ENOENT;
    for (size_t i = 0; i < plan.nexec_paths; ++i) {
        long e = sys(::syscall(SYS_execve, plan.exec_paths[i], plan.argv, plan.envp));
        if (e != -ENOENT && e != -ENOTDIR) last = e;
        if (e != -ENOENT && e != -EACCES && e != -ENOTDIR) break;
    }
    fail(plan, ChildStep::execve, last);
}

}  // namespace truman::detail
