// The child between clone() and execve(). Read child.hpp first.
//
// Rules for this file: raw system calls only (through the tiny wrappers below), no
// allocation, no std::string, no locks, no logging, no exceptions. The order of the steps in
// child_main() is the one place where the order of container set-up is written down.

#include "child.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

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
            return "dup2 stdio";
        case ChildStep::close_descriptors:
            return "close_range";
        case ChildStep::chdir_cwd:
            return "chdir";
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

// Raw wrappers: each returns 0 (or a non-negative result) or -errno.
long sys(long r) noexcept {
    return r < 0 ? -errno : r;
}

[[noreturn]] void fail(const ChildPlan& plan, ChildStep step, long neg_errno,
                       int32_t value = 0) noexcept {
    ChildReport report{step, static_cast<int32_t>(-neg_errno), value};
    // A short write can only mean the parent is gone; nothing more to do either way.
    (void)!::write(plan.status_fd, &report, sizeof report);
    ::_exit(127);
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

// Flags that a remount must keep: in a user namespace the kernel locks nosuid/nodev/noexec
// (and atime flags) of mounts it inherited, and a remount that drops them fails with EPERM.
unsigned long locked_flags(const char* path) noexcept {
    struct statvfs st;
    if (::statvfs(path, &st) != 0) return 0;
    unsigned long flags = 0;
    if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

long bind_remount(const char* target, unsigned long flags) noexcept {
    return sys(::mount(nullptr, target, nullptr,
                       MS_REMOUNT | MS_BIND | flags | locked_flags(target), nullptr));
}

long run_fs_op(const FsOp& op) noexcept {
    switch (op.kind) {
        case FsOpKind::mount:
            return sys(::mount(op.source, op.target, op.fstype, op.flags, op.data));
        case FsOpKind::bind_remount:
            return bind_remount(op.target, op.flags);
        case FsOpKind::mkdir: {
            long r = sys(::mkdir(op.target, op.mode));
            return r == -EEXIST ? 0 : r;
        }
        case FsOpKind::mknod: {
            long r = sys(::mknod(op.target, op.mode, op.dev));
            if (r < 0) return r;
            return sys(::chown(op.target, op.uid, op.gid));
        }
        case FsOpKind::create_file: {
            long fd = sys(::open(op.target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644));
            if (fd < 0) return fd;
            ::close(static_cast<int>(fd));
            return 0;
        }
        case FsOpKind::symlink: {
            long r = sys(::symlink(op.source, op.target));
            return r == -EEXIST ? 0 : r;
        }
        case FsOpKind::mask: {
            struct stat st;
            long r = sys(::stat(op.target, &st));
            if (r < 0) return r;
            if (S_ISDIR(st.st_mode))
                return sys(::mount("tmpfs", op.target, "tmpfs",
                                   MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                   "size=0,mode=0555"));
            return sys(
                ::mount(op.source /* <rootfs>/dev/null */, op.target, nullptr, MS_BIND, nullptr));
        }
        case FsOpKind::make_readonly: {
            long r = sys(::mount(op.target, op.target, nullptr, MS_BIND | MS_REC, nullptr));
            if (r < 0) return r;
            return bind_remount(op.target, MS_RDONLY | MS_REC);
        }
    }
    return -EINVAL;
}

// Read one byte: 1 means go on, 0 (EOF) means the parent gave up on us.
long wait_byte(int fd) noexcept {
    char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : n;
    }
}

// lo up with two ioctls: no netlink message to build, nothing to allocate, and it works for a
// rootless caller, which may not setns() into the namespace from outside.
long bring_loopback_up() noexcept {
    long fd = sys(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd < 0) return fd;
    struct ifreq req {};
    req.ifr_name[0] = 'l';
    req.ifr_name[1] = 'o';
    long r = sys(::ioctl(static_cast<int>(fd), SIOCGIFFLAGS, &req));
    if (r == 0) {
        req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
        r = sys(::ioctl(static_cast<int>(fd), SIOCSIFFLAGS, &req));
    }
    ::close(static_cast<int>(fd));
    return r;
}

bool has_cap(uint64_t mask, int cap) noexcept {
    return (mask >> cap) & 1;
}

}  // namespace

void child_main(const ChildPlan& plan) noexcept {
    // 1. Wait until the parent has written our uid/gid maps, put us in our cgroup and made
    //    our network: everything below may depend on them.
    if (plan.parent_end >= 0) ::close(plan.parent_end);
    long r = wait_byte(plan.go_fd);
    if (r < 0) fail(plan, ChildStep::wait_for_parent, r);
    if (r == 0) ::_exit(0);

    // 2. Namespaces given by path (shared with another container or `ip netns`).
    for (size_t i = 0; i < plan.njoins; ++i)
        CHECK_AT(join_namespace, i, ::setns(plan.joins[i].fd, plan.joins[i].nstype));

    // 3. The cgroup namespace is unshared only now, after the parent moved us into our
    //    cgroup: its root is the cgroup we are in when it is created.
    if (plan.unshare_cgroup_namespace) CHECK(unshare_cgroup_namespace, ::unshare(CLONE_NEWCGROUP));

    // 4. In a new user namespace we start as the overflow uid with all capabilities in it;
    //    become the mapped root now, so that what we create in the filesystems mounted below
    //    (tmpfs /dev, ...) is owned by a uid the namespace knows (the kernel refuses, with
    //    EOVERFLOW, to create inodes for an unmapped owner). The rootfs must then be writable
    //    by the mapped root wherever a mount point has to be made.
    if (plan.user_namespace) {
        CHECK(become_container_root, ::syscall(SYS_setresgid, 0, 0, 0));
        CHECK(become_container_root, ::syscall(SYS_setresuid, 0, 0, 0));
    }

    // 5. Our own session: no controlling terminal, no signals from the host's session.
    CHECK(setsid, ::setsid());
    if (plan.loopback_up) {
        long res = bring_loopback_up();
        if (res < 0) fail(plan, ChildStep::loopback_up, res);
    }

    if (plan.hostname) {
        size_t n = 0;
        while (plan.hostname[n]) ++n;
        CHECK(sethostname, ::sethostname(plan.hostname, n));
    }
    if (plan.domainname) {
        size_t n = 0;
        while (plan.domainname[n]) ++n;
        CHECK(setdomainname, ::setdomainname(plan.domainname, n));
    }

    // 6. The filesystem. "/" becomes private first so that nothing we mount propagates back
    //    to the host; the new root must be a mount point for pivot_root, hence the overlay or
    //    the recursive bind of the rootfs onto itself. The plan's fs_ops use absolute host
    //    paths under the rootfs, so they all run before pivot_root.
    CHECK(make_root_private, ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
    if (plan.overlay_data)
        CHECK(mount_root, ::mount("overlay", plan.rootfs, "overlay", 0, plan.overlay_data));
    else
        CHECK(mount_root, ::mount(plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REC, nullptr));
    for (size_t i = 0; i < plan.nfs_ops; ++i) {
        long res = run_fs_op(plan.fs_ops[i]);
        if (res == -ENOENT && plan.fs_ops[i].optional) continue;
        if (res < 0) fail(plan, ChildStep::fs_op, res, static_cast<int32_t>(i));
    }

    // 7. pivot_root(".", ".") stacks the old root under the new one; detaching "." then
    //    removes the old root, so nothing of the host's tree stays reachable.
    CHECK(pivot_root, ::chdir(plan.rootfs));
    CHECK(pivot_root, ::syscall(SYS_pivot_root, ".", "."));
    CHECK(detach_old_root, ::umount2(".", MNT_DETACH));
    CHECK(chdir_root, ::chdir("/"));
    if (plan.readonly_root) {
        long res = bind_remount("/", MS_RDONLY);
        if (res < 0) fail(plan, ChildStep::remount_root_readonly, res);
    }
    if (plan.root_propagation)
        CHECK(set_root_propagation, ::mount(nullptr, "/", nullptr, plan.root_propagation, nullptr));

    // 8. Resource limits, while we still may lower hard limits.
    for (size_t i = 0; i < plan.nrlimits; ++i)
        CHECK_AT(
            setrlimit, i,
            ::syscall(SYS_prlimit64, 0, plan.rlimit_resources[i], &plan.rlimit_values[i], nullptr));

    // 9. The bounding set needs CAP_SETPCAP, so it is trimmed before the user switch.
    for (int cap = 0; cap <= plan.last_cap; ++cap)
        if (!has_cap(plan.cap_bounding, cap))
            CHECK_AT(drop_bounding_capability, cap, ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0));

    // 10. Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the user switch
    //     below may drop: so the filter goes in now (the default profile allows the rest).
    int listener = -1;
    if (plan.seccomp_filter && !plan.no_new_privs) {
        struct sock_fprog prog {
            plan.seccomp_len, const_cast<sock_filter*>(plan.seccomp_filter)
        };
        long fd = sys(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog));
        if (fd < 0) fail(plan, ChildStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }

    // 11. The user: keep permitted capabilities across setuid (capset below decides what
    //     stays); groups before gid before uid, since each needs the privilege the next drops.
    CHECK(keep_capabilities, ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
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
                     ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
    if (plan.umask >= 0) ::umask(static_cast<mode_t>(plan.umask));

    // 12. stdio. dup2 clears FD_CLOEXEC on the copies, which is what we want for 0-2.
    for (int fd = 0; fd < 3; ++fd)
        if (plan.stdio[fd] != fd)
            CHECK_AT(set_stdio, fd, ::dup2(plan.stdio[fd], fd));
        else
            CHECK_AT(set_stdio, fd, ::fcntl(fd, F_SETFD, 0));
    // Whatever else we inherited (a caller's stray non-CLOEXEC descriptor) must not reach the
    // container: mark everything above 2 close-on-exec. Our own pipes still work until execve.
    CHECK(close_descriptors, ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC));

    CHECK(chdir_cwd, ::chdir(plan.cwd));

    // 13. no_new_privs, then seccomp last: the filter may block what the steps above need.
    if (plan.no_new_privs) CHECK(set_no_new_privs, ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    if (plan.seccomp_filter && plan.no_new_privs) {
        struct sock_fprog prog {
            plan.seccomp_len, const_cast<sock_filter*>(plan.seccomp_filter)
        };
        long fd = sys(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog));
        if (fd < 0) fail(plan, ChildStep::load_seccomp, fd);
        listener = static_cast<int>(fd);
    }
    if (!(plan.seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) listener = -1;

    // 14. Parked: tell the parent (and which fd is our seccomp listener, for pidfd_getfd),
    //     then wait for start. EOF on start_fd means the container was destroyed unstarted.
    ChildReport ready{ChildStep::ready, 0, listener};
    if (::write(plan.status_fd, &ready, sizeof ready) != sizeof ready)
        fail(plan, ChildStep::report_ready, -errno);
    r = wait_byte(plan.start_fd);
    if (r < 0) fail(plan, ChildStep::wait_for_start, r);
    if (r == 0) ::_exit(0);
    if (listener >= 0) ::close(listener);

    // 15. execve each candidate in PATH order, like execvp: ENOENT/EACCES/ENOTDIR try the
    //     next, and the first other error (or the last one seen) is what we report.
    long last = -ENOENT;
    for (size_t i = 0; i < plan.nexec_paths; ++i) {
        ::execve(plan.exec_paths[i], plan.argv, plan.envp);
        long e = -errno;
        if (e != -ENOENT && e != -ENOTDIR) last = e;
        if (e != -ENOENT && e != -EACCES && e != -ENOTDIR) break;
    }
    fail(plan, ChildStep::execve, last);
}

}  // namespace truman::detail
