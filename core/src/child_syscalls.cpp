// The child's system-call primitives. Read child_syscalls.hpp first.
#include "child_syscalls.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace truman::detail::child {

// syscall(2) sets errno, a thread-local the child may read; it is the only libc function the
// child calls (it has no sanitizer interceptor, unlike mount(), open() and friends).
long sys(long r) noexcept {
    return r < 0 ? -errno : r;
}

void close_fd(int fd) noexcept {
    if (fd >= 0) ::syscall(SYS_close, fd);
}

[[noreturn]] void exit_now(int status) noexcept {
    for (;;) ::syscall(SYS_exit_group, status);
}

size_t length(const char* s) noexcept {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

FdPath::FdPath(int fd) noexcept {
    static constexpr char prefix[] = "/proc/self/fd/";
    size_t n = 0;
    for (; prefix[n]; ++n) text[n] = prefix[n];
    char digits[12];
    size_t d = 0;
    unsigned v = static_cast<unsigned>(fd);
    do {
        digits[d++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v && d < sizeof digits);
    while (d) text[n++] = digits[--d];
    text[n] = '\0';
}

// Resolve path beneath root (a directory fd that acts as "/" for the walk: absolute links and
// ".." stop there), never through a magic link such as /proc/self/fd/N.
long open_beneath(int root, const char* path, uint64_t flags, uint64_t resolve,
                  uint64_t mode) noexcept {
    struct open_how how {};
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = resolve;
    return sys(::syscall(SYS_openat2, root, path, &how, sizeof how));
}

// Flags that a remount must keep: in a user namespace the kernel locks nosuid/nodev/noexec
// (and atime flags) of mounts it inherited, and a remount that drops them fails with EPERM.
// statfs, not statvfs: the latter is a libc function that may read /proc/mounts.
unsigned long locked_flags(int fd) noexcept {
    struct statfs st;
    if (::syscall(SYS_fstatfs, fd, &st) != 0) return 0;
    unsigned long flags = 0;
    if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

long mount_at(const char* source, int target, const char* fstype, unsigned long flags,
              const char* data) noexcept {
    return sys(::syscall(SYS_mount, source, FdPath(target).get(), fstype, flags, data));
}

long bind_remount(int target, unsigned long flags) noexcept {
    return mount_at(nullptr, target, nullptr, MS_REMOUNT | MS_BIND | flags | locked_flags(target),
                    nullptr);
}

// Read one byte: 1 means go on, 0 (EOF) means the parent gave up on us.
long wait_byte(int fd) noexcept {
    char c;
    for (;;) {
        long n = sys(::syscall(SYS_read, fd, &c, 1));
        if (n == -EINTR) continue;
        return n;
    }
}

// lo up with two ioctls: no netlink message to build, nothing to allocate, and it works for a
// rootless caller, which may not setns() into the namespace from outside.
long bring_loopback_up() noexcept {
    long fd = sys(::syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd < 0) return fd;
    ChildFd sock(fd);
    struct ifreq req {};
    req.ifr_name[0] = 'l';
    req.ifr_name[1] = 'o';
    long r = sys(::syscall(SYS_ioctl, sock.fd, SIOCGIFFLAGS, &req));
    if (r < 0) return r;
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    return sys(::syscall(SYS_ioctl, sock.fd, SIOCSIFFLAGS, &req));
}

// The kernel's struct sigaction for rt_sigaction (not glibc's, which has a larger mask).
struct KernelSigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
};

// What the caller blocked or ignored must not reach the container: execve keeps both the
// signal mask and ignored dispositions (it resets only caught ones). posix_spawn of the
// monitor clears them today, but a runtime run by containerd or a shell must not rely on its
// caller.
long join_cgroups(const int* fds, size_t n, size_t* failed) noexcept {
    for (size_t i = 0; i < n; ++i) {
        long r = sys(::syscall(SYS_write, fds[i], "0", 1));
        close_fd(fds[i]);
        if (r < 0) {
            *failed = i;
            return r;
        }
    }
    return 0;
}

long reset_signals() noexcept {
    uint64_t empty = 0;
    long r = sys(::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof empty));
    if (r < 0) return r;
    KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
    for (int sig = 1; sig <= 64; ++sig) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        r = sys(::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof dfl.mask));
        if (r < 0 && r != -EINVAL) return r;
    }
    return 0;
}

// Close every descriptor except those in keep (at most a handful, unordered; -1 entries are
// ignored) with one close_range per gap, so no inherited descriptor outlives this point.
long close_all_except(int* keep, size_t n) noexcept {
    for (size_t i = 1; i < n; ++i)  // insertion sort: n <= 8
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned next = 0;
    for (size_t i = 0; i < n; ++i) {
        if (keep[i] < 0 || static_cast<unsigned>(keep[i]) < next) continue;
        unsigned fd = static_cast<unsigned>(keep[i]);
        if (fd > next) {
            long r = sys(::syscall(SYS_close_range, next, fd - 1, 0));
            if (r < 0) return r;
        }
        next = fd + 1;
    }
    return sys(::syscall(SYS_close_range, next, ~0U, 0));
}

}  // namespace truman::detail::child
