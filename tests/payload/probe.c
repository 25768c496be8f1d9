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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
    } else
        return 2;
    return report(a, r);
}
