/*
 * probe: a tiny static program that tries one escape from inside a container and reports
 * what the kernel said. Static, so it needs nothing from the container's root filesystem.
 *
 *   probe ACTION [ARG]    prints "ACTION: ok" or "ACTION: <errno name> (<errno>)"
 *   exit status: 0 if the call succeeded, 1 if it failed, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* A 32-bit system call from this 64-bit program: the kernel runs it as i386 (the filter sees
 * AUDIT_ARCH_I386). Pointers must then fit in 32 bits, hence MAP_32BIT buffers below. */
static long int80(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static uint32_t* low_args(void) {
    void* p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A type the family supports, so that an allowed family really gets a socket. */
static int type_for(int family) {
    if (family == AF_NETLINK) return SOCK_DGRAM;
    if (family == AF_PACKET || family == 44 /* AF_XDP */) return SOCK_RAW;
    if (family == AF_ALG) return SOCK_SEQPACKET;
    return SOCK_STREAM;
}

static int report(const char* action, long r) {
    if (r >= 0) {
        printf("%s: ok\n", action);
        return 0;
    }
    printf("%s: %s (%d)\n", action, strerrorname_np(errno) ? strerrorname_np(errno) : "?", errno);
    return 1;
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const char* a = argv[1];
    const char* arg = argc > 2 ? argv[2] : "";
    long r;
    if (!strcmp(a, "mount"))
        r = mount("none", "/mnt", "tmpfs", 0, NULL);
    else if (!strcmp(a, "umount"))
        r = umount2("/", MNT_DETACH);
    /* CAD_OFF only changes what ctrl-alt-del does: harmless even if it got through. */
    else if (!strcmp(a, "reboot"))
        r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF,
                    NULL);
    else if (!strcmp(a, "ptrace"))
        r = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
    else if (!strcmp(a, "finit_module"))
        r = syscall(SYS_finit_module, 0, "", 0);
    else if (!strcmp(a, "init_module"))
        r = syscall(SYS_init_module, NULL, 0, "");
    else if (!strcmp(a, "unshare"))
        r = unshare(CLONE_NEWNS);
    else if (!strcmp(a, "unshare-user"))
        r = unshare(CLONE_NEWUSER);
    else if (!strcmp(a, "setns"))
        r = setns(0, 0);
    else if (!strcmp(a, "clone-newuser"))
        r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    else if (!strcmp(a, "clone3")) {
        char args[88] = {0};
        r = syscall(SYS_clone3, args, sizeof args);
    } else if (!strcmp(a, "keyctl"))
        r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -1, 0);
    else if (!strcmp(a, "bpf"))
        r = syscall(SYS_bpf, 0, NULL, 0);
    else if (!strcmp(a, "perf_event_open"))
        r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    else if (!strcmp(a, "kexec_load"))
        r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
    else if (!strcmp(a, "swapoff"))
        r = swapoff("/nonexistent");
    else if (!strcmp(a, "userfaultfd"))
        r = syscall(SYS_userfaultfd, 0);
    else if (!strcmp(a, "open_by_handle_at"))
        r = syscall(SYS_open_by_handle_at, -1, NULL, 0);
    else if (!strcmp(a, "write-sysctl")) {
        int fd = open("/proc/sys/kernel/hostname", O_WRONLY);
        r = fd < 0 ? -1 : write(fd, "escaped", 7);
    } else if (!strcmp(a, "read")) {
        /* a masked file is /dev/null: it opens, but reads nothing */
        char buf[16];
        int fd = open(arg, O_RDONLY);
        r = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (r == 0) {
            errno = ENODATA;
            r = -1;
        }
    } else if (!strcmp(a, "mknod")) {
        /* arg: "major:minor" of a host block device */
        unsigned maj = 0, min = 0;
        sscanf(arg, "%u:%u", &maj, &min);
        unlink("/tmp/disk");
        r = mknod("/tmp/disk", S_IFBLK | 0600, makedev(maj, min));
    } else if (!strcmp(a, "open")) {
        r = open(arg, O_RDONLY);
    } else if (!strcmp(a, "raise-cap")) {
        /* add CAP_SYS_ADMIN (21) to the effective set */
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) != 0) return report("capget", -1);
        d[0].effective |= 1u << 21;
        d[0].permitted |= 1u << 21;
        r = syscall(SYS_capset, &h, d);
    } else if (!strcmp(a, "hog")) {
        /* touch memory until the OOM killer ends us (or 4 GiB, to stay bounded) */
        for (int i = 0; i < 4096; i++) {
            char* p = malloc(1 << 20);
            if (!p) return report("hog", -1);
            memset(p, 1, 1 << 20);
        }
        r = 0;
    } else if (!strcmp(a, "kill")) {
        r = kill(atoi(arg), 0);
        /* Sockets: each is created and left alone (never connected: a vsock is the hypervisor). */
    } else if (!strcmp(a, "socket")) {
        r = socket(atoi(arg), type_for(atoi(arg)) | SOCK_CLOEXEC, 0);
    } else if (!strcmp(a, "socket32")) {
        r = int80(359 /* i386 socket */, atoi(arg), type_for(atoi(arg)), 0);
    } else if (!strcmp(a, "socketcall")) {
        /* i386 socketcall(SYS_SOCKET, {family, type, 0}) */
        uint32_t* args = low_args();
        if (!args) return report("mmap", -1);
        args[0] = (uint32_t)atoi(arg);
        args[1] = (uint32_t)type_for(atoi(arg));
        args[2] = 0;
        r = int80(102 /* i386 socketcall */, 1 /* SYS_SOCKET */, (long)(uintptr_t)args, 0);
    } else if (!strcmp(a, "socketcall-connect")) {
        uint32_t* args = low_args();
        if (!args) return report("mmap", -1);
        r = int80(102, 3 /* SYS_CONNECT */, (long)(uintptr_t)args, 0);
        /* The new mount API: every entry point, each refused before it does anything. */
    } else if (!strcmp(a, "fsopen")) {
        r = syscall(SYS_fsopen, "tmpfs", 0);
    } else if (!strcmp(a, "fsmount")) {
        r = syscall(SYS_fsmount, -1, 0, 0);
    } else if (!strcmp(a, "fspick")) {
        r = syscall(SYS_fspick, AT_FDCWD, "/", 0);
    } else if (!strcmp(a, "fsconfig")) {
        r = syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
    } else if (!strcmp(a, "open_tree")) {
        r = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
    } else if (!strcmp(a, "move_mount")) {
        r = syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/mnt", 0);
    } else if (!strcmp(a, "mount_setattr")) {
        r = syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, NULL, 0);
    } else if (!strcmp(a, "mount-bind")) {
        r = mount("/", "/mnt", NULL, MS_BIND, NULL);
    } else if (!strcmp(a, "remount-root")) {
        r = mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL);
    } else if (!strcmp(a, "chroot")) {
        r = chroot("/tmp");
    } else if (!strcmp(a, "pivot_root")) {
        r = syscall(SYS_pivot_root, "/tmp", "/tmp");
    } else if (!strcmp(a, "iopl")) {
        r = syscall(SYS_iopl, 3);
    } else if (!strcmp(a, "ioperm")) {
        r = syscall(SYS_ioperm, 0x80, 1, 1);
    } else if (!strcmp(a, "acct")) {
        r = syscall(SYS_acct, NULL);
    } else if (!strcmp(a, "settimeofday")) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        r = settimeofday(&tv, NULL);
    } else if (!strcmp(a, "clock_settime")) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = clock_settime(CLOCK_REALTIME, &ts);
    } else if (!strcmp(a, "syslog")) {
        r = syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    } else if (!strcmp(a, "quotactl")) {
        r = syscall(SYS_quotactl, 0, NULL, 0, NULL);
    } else if (!strcmp(a, "add_key")) {
        r = syscall(SYS_add_key, "user", "k", "v", 1, -2 /* process keyring */);
    } else if (!strcmp(a, "request_key")) {
        r = syscall(SYS_request_key, "user", "k", NULL, 0);
    } else if (!strcmp(a, "process_vm_readv")) {
        char buf[8];
        struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
        r = syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0);
    } else if (!strcmp(a, "kcmp")) {
        r = syscall(SYS_kcmp, getpid(), 1, 0, 0, 0);
    } else if (!strcmp(a, "pidfd_getfd")) {
        r = syscall(SYS_pidfd_getfd, -1, 0, 0);
    } else if (!strcmp(a, "io_uring_setup")) {
        r = syscall(SYS_io_uring_setup, 1, NULL);
    } else if (!strcmp(a, "vhangup")) {
        r = syscall(SYS_vhangup);
    } else if (!strcmp(a, "ptrace-traceme")) {
        r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    } else if (!strcmp(a, "personality")) {
        r = syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */);
    } else if (!strcmp(a, "sethostname")) {
        r = sethostname("escaped", 7);
    } else if (!strcmp(a, "setdomainname")) {
        r = setdomainname("escaped", 7);
    } else if (!strcmp(a, "delete_module")) {
        r = syscall(SYS_delete_module, "x", 0);
    } else if (!strcmp(a, "lookup_dcookie")) {
        r = syscall(SYS_lookup_dcookie, 0, NULL, 0);
    } else if (!strcmp(a, "fanotify_init")) {
        r = syscall(SYS_fanotify_init, 0, 0);
    } else if (!strcmp(a, "write")) {
        /* arg: a path that must not be writable */
        int fd = open(arg, O_WRONLY);
        r = fd < 0 ? -1 : write(fd, "1", 1);
    } else if (!strcmp(a, "cwd")) {
        /* where the process is; "(unreachable)" would mean outside the root */
        char buf[4096];
        r = syscall(SYS_getcwd, buf, sizeof buf);
        if (r >= 0) printf("cwd: %s\n", buf);
    } else if (!strcmp(a, "fds")) {
        /* every descriptor open above 2, found without opening one (no opendir) */
        int found = 0;
        for (int fd = 3; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0) {
                printf("fd %d open\n", fd);
                found = 1;
            }
        errno = EBADF;
        r = found ? 0 : -1; /* "ok" means a stray descriptor */
    } else
        return 2;
    return report(a, r);
}
