// The default seccomp profile: Docker's allowlist as applied with Docker's default
// capabilities, with truman's additions (argument rules for socket families, clone flags and
// personalities; socketcall refused). Compiled by seccomp.cpp like any other profile.
#include <sched.h>

#include <cerrno>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "child.hpp"
#include "truman/seccomp.hpp"

namespace truman {

Seccomp default_seccomp_profile() {
    // Docker's default profile (moby profiles/seccomp/default.json) as applied to a container
    // with Docker's default capabilities: the rules that need CAP_SYS_ADMIN, CAP_SYS_PTRACE,
    // CAP_SYS_BOOT, CAP_SYS_MODULE ... are left out, so mount, reboot, module loading, bpf,
    // perf_event_open, unshare, setns and friends fail with EPERM. keyctl, add_key,
    // request_key, userfaultfd, swapon/swapoff, kexec_load and open_by_handle_at are not in
    // Docker's list either. Stricter than Docker: ptrace and process_vm_readv/writev (Docker
    // allows them from Linux 4.8 on; truman denies them, so strace does not work inside) and
    // io_uring (a steady source of kernel exploits, dropped by newer Docker too).
    static const char* const allowed[] = {
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
        "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
        "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
        "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
        "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
        "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
        "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
        "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
        "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
        "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
        "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
        "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
        "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
        "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
        "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
        "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
        "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
        "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
        "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
        "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
        "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
        "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
        "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
        "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
        "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
        "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2",
        "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
        "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
        "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
        "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
        "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
        "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
        "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
        "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
        "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
        "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
        "sigprocmask", "sigreturn", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
        "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
        "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
        "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
        "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
        "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
        "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
        "writev",
        // x86 only (Docker's arch-specific entries for amd64/x32/x86)
        "arch_prctl", "modify_ldt"};

    Seccomp profile;
    profile.default_action = "SCMP_ACT_ERRNO";
    profile.default_errno_ret = EPERM;
    // Like Docker on amd64: 32-bit and x32 binaries are filtered too instead of being killed
    // for a foreign architecture.
    profile.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};

    SeccompRule allow;
    allow.action = "SCMP_ACT_ALLOW";
    allow.names.assign(std::begin(allowed), std::end(allowed));
    profile.syscalls.push_back(allow);

    // socketcall, the 32-bit x86 multiplexer (socket, connect, ... as one call whose
    // arguments sit in memory that seccomp cannot read), would carry socket() past the family
    // rule: int 0x80 socketcall(SYS_SOCKET, {AF_VSOCK, ...}) returned a socket. Every
    // architecture in the profile has the direct socket calls (x86 since Linux 4.3), so
    // socketcall gets ENOSYS, like Docker. Leaving socketcall out of the allow list is not
    // enough: on x86 libseccomp itself adds socketcall(SYS_SOCKET) rules next to every
    // socket rule, without the family condition (it cannot read the arguments). This rule
    // must come before the socket rules: then libseccomp keeps it and adds none of its own
    // (after them, the socket rules' own socketcall rules conflict and are refused). (ENOSYS
    // differs from the default errno, so the compiler keeps it as a kernel answer: see the top of
    // this file.) Consequence: a 32-bit program whose C library only knows socketcall (Debian's
    // i386 glibc) has no networking, as under Docker. The other x86 multiplexer, ipc, stays
    // allowed: every call it carries (shm*, sem*, msg*) is allowed unconditionally, so it carries
    // no rule around.
    profile.syscalls.push_back(SeccompRule{{"socketcall"}, "SCMP_ACT_ERRNO", ENOSYS, {}});
    // socket: an allowlist of the address families a container needs; every other family is
    // answered EAFNOSUPPORT, as if the kernel lacked it. Refused on purpose, among others:
    // AF_VSOCK (40), a path to the hypervisor's agent on a VM host; AF_ALG (38), whose
    // page-cache-write bugs corrupt shared image files; AF_KEY, AF_TIPC, AF_RDS, AF_CAN,
    // AF_BLUETOOTH, AF_XDP and the rest of the rarely used, often buggy families. AF_PACKET
    // still needs CAP_NET_RAW, which the kernel checks.
    for (uint64_t family : kAllowedSocketFamilies)
        profile.syscalls.push_back(
            SeccompRule{{"socket"}, "SCMP_ACT_ALLOW", {}, {{0, family, 0, "SCMP_CMP_EQ"}}});
    // libseccomp refuses an unconditional rule next to conditional ones for one syscall, so
    // the refusal covers the complement of the allowlist, family by family, and every family
    // above the highest allowed one (GE also catches values with high bits set).
    uint64_t next = 0;
    for (uint64_t family : kAllowedSocketFamilies) {
        for (; next < family; ++next)
            profile.syscalls.push_back(SeccompRule{
                {"socket"}, "SCMP_ACT_ERRNO", EAFNOSUPPORT, {{0, next, 0, "SCMP_CMP_EQ"}}});
        next = family + 1;
    }
    profile.syscalls.push_back(
        SeccompRule{{"socket"}, "SCMP_ACT_ERRNO", EAFNOSUPPORT, {{0, next, 0, "SCMP_CMP_GE"}}});
    // personality: only the harmless personas Docker allows.
    for (uint64_t persona : {0x0ULL, 0x8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
        profile.syscalls.push_back(
            SeccompRule{{"personality"}, "SCMP_ACT_ALLOW", {}, {{0, persona, 0, "SCMP_CMP_EQ"}}});
    // clone: only without namespace flags. value = mask, valueTwo = required result (OCI).
    constexpr uint64_t namespace_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                         CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    profile.syscalls.push_back(SeccompRule{
        {"clone"}, "SCMP_ACT_ALLOW", {}, {{0, namespace_flags, 0, "SCMP_CMP_MASKED_EQ"}}});
    // clone3 passes its flags in memory that seccomp cannot read: refuse it with ENOSYS so
    // that the C library falls back to clone, whose flags are checked above.
    profile.syscalls.push_back(SeccompRule{{"clone3"}, "SCMP_ACT_ERRNO", ENOSYS, {}});
    return profile;
}

Seccomp learned_seccomp_profile(const Seccomp& base, const std::set<std::string>& seen) {
    auto unconditional_allow = [](const SeccompRule& rule) {
        return rule.action == "SCMP_ACT_ALLOW" && rule.args.empty();
    };
    std::set<std::string> allowed;
    for (const auto& rule : base.syscalls)
        if (unconditional_allow(rule)) allowed.insert(rule.names.begin(), rule.names.end());
    std::set<std::string> names;
    for (const auto& name : seen)
        if (allowed.count(name)) names.insert(name);
    // Made by the runtime between loading the filter and execve: allowed by the kernel without
    // a notification, so never seen, and needed by every container.
    for (const char* name : detail::kSyscallsAfterSeccomp)
        if (allowed.count(name)) names.insert(name);

    Seccomp out;
    out.default_action = base.default_action;
    out.default_errno_ret = base.default_errno_ret;
    out.architectures = base.architectures;
    if (!names.empty())
        out.syscalls.push_back(SeccompRule{std::vector<std::string>(names.begin(), names.end()),
                                           "SCMP_ACT_ALLOW",
                                           std::nullopt,
                                           {}});
    // In base's order: the default profile's socketcall rule must precede its socket rules.
    for (const auto& rule : base.syscalls)
        if (!unconditional_allow(rule)) out.syscalls.push_back(rule);
    return out;
}

}  // namespace truman
