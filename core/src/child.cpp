// The child between clone() and execve(). Read child.hpp first.
//
// Rules for this file: raw system calls only (through syscall(2) and the tiny wrappers below,
// so that no libc wrapper and no sanitizer interceptor runs here), no allocation, no
// std::string, no locks, no logging, no exceptions (the file is built with -fno-exceptions).
// The order of the steps in child_main() is the one place where the order of container set-up
// is written down.

#include "child.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child_syscalls.hpp"

namespace truman::detail {

namespace {

using namespace child;

[[noreturn]] void fail(const ChildPlan& plan, ChildStep step, long neg_errno,
                       int32_t value = 0) noexcept {
    report_failure(plan.status_fd, step, neg_errno, value);
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

}  // namespace

void child_main(const ChildPlan& plan) noexcept {
    // 1. Wait until the parent has written our uid/gid maps, then join our v1 cgroups (our
    //    cgroup2 one we were born in, CLONE_INTO_CGROUP): everything below may depend on
    //    them. (Our links are wired by the parent meanwhile; nothing here uses them, and it
    //    reads our report before we may exec.) Then forget the caller's signal mask and
    //    ignored signals, which execve would otherwise hand to the container.
    close_fd(plan.parent_end);
    long r = wait_byte(plan.go_fd);
    if (r < 0) fail(plan, ChildStep::wait_for_parent, r);
    if (r == 0) exit_now(0);
    size_t failed = 0;
    r = join_cgroups(plan.cgroup_joins, plan.ncgroup_joins, &failed);
    if (r < 0) fail(plan, ChildStep::join_cgroup, r, static_cast<int32_t>(failed));
    CHECK(reset_signals, reset_signals());

    // 2. Namespaces given by path (shared with another container or `ip netns`).
    for (size_t i = 0; i < plan.njoins; ++i)
        CHECK_AT(join_namespace, i, ::syscall(SYS_setns, plan.joins[i].fd, plan.joins[i].nstype));

    // 3. The cgroup namespace is unshared only now, once we are in our cgroups: its root is
    //    the cgroup we are in when it is created.
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

    // 8. Limits, capabilities, the user, stdio, the descriptors the container may keep,
    //    the cwd, no_new_privs and seccomp: what an exec shares (child_confine.cpp). The sync
    //    socket stays until execve, which closes it.
    int keep[] = {plan.status_fd, plan.start_fd, plan.go_fd};
    Confined confined = confine(plan.process, plan.status_fd, keep, sizeof keep / sizeof keep[0]);

    // 9. Parked: tell the parent, then wait for start. EOF on start_fd means the container
    //    was destroyed unstarted.
    park(plan.status_fd, plan.start_fd, confined);

    // 10. execve each candidate in PATH order, like execvp: ENOENT/EACCES/ENOTDIR try the
    //     next, and the first other error (or the last one seen) is what we report.
    const ProcessPlan& process = plan.process;
    long last = -ENOENT;
    for (size_t i = 0; i < process.nexec_paths; ++i) {
        long e = sys(::syscall(SYS_execve, process.exec_paths[i], process.argv, process.envp));
        if (e != -ENOENT && e != -ENOTDIR) last = e;
        if (e != -ENOENT && e != -EACCES && e != -ENOTDIR) break;
    }
    fail(plan, ChildStep::execve, last);
}

}  // namespace truman::detail
