// Seccomp profiles compiled to BPF with libseccomp in the parent; denials answered by a
// user-notification listener so that the monitor can record them.
//
// How ERRNO actions become recorded denials
// -----------------------------------------
// The kernel's SECCOMP_RET_USER_NOTIF carries no data, so the listener only learns the syscall
// number (and arch) of a notified call, never which rule matched. The errno to answer is
// therefore kept per syscall number (SeccompProgram::notify_errno, else default_notify_errno),
// and an ERRNO outcome is compiled as NOTIFY only when that lookup gives the right errno:
//   - the default action, if ERRNO, is NOTIFY with default_notify_errno;
//   - a rule's ERRNO is NOTIFY if every notified path of that syscall answers the same errno
//     (the default's, when the default can still be reached for it, or the first ERRNO rule's);
//     a rule whose errno would conflict is compiled as a plain SCMP_ACT_ERRNO (answered by the
//     kernel, not recorded) so that the answer is always the one the profile asks for.
// Exceptions that are never notified, answered by the kernel at once:
//   - clone3: the C library probes it and falls back to clone only on ENOSYS; a profile that
//     does not mention clone3 gets ENOSYS for it unless its default allows (as runc does);
//   - socketcall: on x86 libseccomp turns every socket rule into socketcall rules of its own
//     as well, and refuses them (EEXIST) next to a notifying socketcall rule, so a profile
//     with both a socketcall denial and socket rules could not be compiled;
//   - the calls the container's first process makes between loading the filter and execve
//     (detail::kSyscallsAfterSeccomp in core/src/child.hpp): the listener fd only reaches the
//     monitor at the end of that window, so a notified call there would wait for an answer that
//     never comes. Their denials are answered with the right errno but not recorded.
#include "truman/seccomp.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "child.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {
namespace {

// What a profile action means, before deciding how it is compiled.
struct Action {
    enum class Kind { allow, errno_ret, kill_thread, kill_process, trap, log, trace } kind;
    uint32_t data = 0;  // errno for errno_ret, message for trace
};

constexpr uint32_t max_errno = 4095;  // the kernel's MAX_ERRNO; SECCOMP_RET_DATA is wider

Action parse_action(const std::string& name, const std::optional<uint32_t>& errno_ret,
                    const std::string& field, const std::string& errno_field) {
    using K = Action::Kind;
    static const std::pair<const char*, K> table[] = {
        {"SCMP_ACT_ALLOW", K::allow},
        {"SCMP_ACT_ERRNO", K::errno_ret},
        {"SCMP_ACT_KILL", K::kill_thread},
        {"SCMP_ACT_KILL_THREAD", K::kill_thread},
        {"SCMP_ACT_KILL_PROCESS", K::kill_process},
        {"SCMP_ACT_TRAP", K::trap},
        {"SCMP_ACT_LOG", K::log},
        {"SCMP_ACT_TRACE", K::trace},
    };
    for (const auto& [text, kind] : table) {
        if (name != text) continue;
        if (errno_ret && kind != K::errno_ret && kind != K::trace)
            throw invalid_argument(errno_field,
                                   "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
        if (errno_ret && *errno_ret > max_errno)
            throw invalid_argument(errno_field, "must be at most " + std::to_string(max_errno));
        uint32_t data = kind == K::errno_ret ? errno_ret.value_or(EPERM) : errno_ret.value_or(0);
        return Action{kind, data};
    }
    if (name == "SCMP_ACT_NOTIFY")
        throw make_error(ErrorKind::unsupported,
                         field +
                             ": SCMP_ACT_NOTIFY is not supported (truman's monitor owns the "
                             "listener to record denials)");
    throw invalid_argument(field, "unknown action \"" + name + "\"");
}

uint32_t libseccomp_action(const Action& action) {
    using K = Action::Kind;
    switch (action.kind) {
        case K::allow:
            return SCMP_ACT_ALLOW;
        case K::errno_ret:
            return SCMP_ACT_ERRNO(action.data);
        case K::kill_thread:
            return SCMP_ACT_KILL;
        case K::kill_process:
            return SCMP_ACT_KILL_PROCESS;
        case K::trap:
            return SCMP_ACT_TRAP;
        case K::log:
            return SCMP_ACT_LOG;
        case K::trace:
            return SCMP_ACT_TRACE(action.data);
    }
    return SCMP_ACT_KILL_PROCESS;
}

scmp_compare parse_operator(const std::string& name, const std::string& field) {
    static const std::pair<const char*, scmp_compare> table[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    for (const auto& [text, op] : table)
        if (name == text) return op;
    throw invalid_argument(field, "unknown operator \"" + name + "\"");
}

// "SCMP_ARCH_X86_64" -> libseccomp's token, through its own name table ("x86_64").
uint32_t parse_architecture(const std::string& name, const std::string& field) {
    const std::string prefix = "SCMP_ARCH_";
    uint32_t token = 0;
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size()) {
        std::string lower = name.substr(prefix.size());
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        token = seccomp_arch_resolve_name(lower.c_str());
    }
    if (token == 0) throw invalid_argument(field, "unknown architecture \"" + name + "\"");
    return token;
}

int resolve_syscall(const std::string& name, const std::string& field) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) throw invalid_argument(field, "unknown syscall \"" + name + "\"");
    return nr;
}

// A rule after validation: names resolved, conditions converted.
struct ResolvedRule {
    std::string field;  // "linux.seccomp.syscalls[3]"
    Action action;
    std::vector<std::pair<std::string, int>> syscalls;  // name, native number (or pseudo)
    std::vector<scmp_arg_cmp> conditions;
};

ResolvedRule resolve_rule(const SeccompRule& rule, size_t index) {
    ResolvedRule out;
    out.field = "linux.seccomp.syscalls[" + std::to_string(index) + "]";
    out.action =
        parse_action(rule.action, rule.errno_ret, out.field + ".action", out.field + ".errnoRet");
    if (rule.names.empty()) throw invalid_argument(out.field + ".names", "must not be empty");
    for (size_t i = 0; i < rule.names.size(); ++i)
        out.syscalls.emplace_back(
            rule.names[i],
            resolve_syscall(rule.names[i], out.field + ".names[" + std::to_string(i) + "]"));
    for (size_t i = 0; i < rule.args.size(); ++i) {
        const SeccompArg& arg = rule.args[i];
        std::string field = out.field + ".args[" + std::to_string(i) + "]";
        if (arg.index > 5) throw invalid_argument(field + ".index", "must be between 0 and 5");
        // OCI (and runc) pass value and valueTwo to libseccomp as datum_a and datum_b; for
        // SCMP_CMP_MASKED_EQ libseccomp reads them as (arg & datum_a) == datum_b, so "value"
        // is the mask and "valueTwo" the expected result.
        out.conditions.push_back(scmp_arg_cmp{arg.index, parse_operator(arg.op, field + ".op"),
                                              arg.value, arg.value_two});
    }
    return out;
}

// libseccomp rejects two conditions on the same argument in one rule; like runc, such a rule
// becomes one rule per condition.
std::vector<std::vector<scmp_arg_cmp>> condition_chains(const std::vector<scmp_arg_cmp>& conds) {
    std::set<unsigned> seen;
    bool repeated = false;
    for (const auto& c : conds) repeated |= !seen.insert(c.arg).second;
    if (!repeated) return {conds};
    std::vector<std::vector<scmp_arg_cmp>> chains;
    for (const auto& c : conds) chains.push_back({c});
    return chains;
}

struct FilterContext {
    scmp_filter_ctx ctx;
    explicit FilterContext(uint32_t default_action) : ctx(seccomp_init(default_action)) {
        if (!ctx) throw system_error("seccomp_init", ENOMEM);
    }
    ~FilterContext() { seccomp_release(ctx); }
    FilterContext(const FilterContext&) = delete;
    FilterContext& operator=(const FilterContext&) = delete;
};

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
    Fd mem(::memfd_create("truman-seccomp-bpf", MFD_CLOEXEC));
    if (!mem) throw system_error("memfd_create for the seccomp program");
    if (int rc = seccomp_export_bpf(ctx, mem.get()); rc < 0)
        throw system_error("seccomp_export_bpf", -rc);
    struct stat st {};
    if (::fstat(mem.get(), &st) < 0) throw system_error("fstat seccomp program memfd");
    if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0)
        throw system_error(
            "seccomp_export_bpf: unexpected program size " + std::to_string(st.st_size), EPROTO);
    if (st.st_size / sizeof(sock_filter) > BPF_MAXINSNS)
        throw make_error(ErrorKind::unsupported,
                         "linux.seccomp: compiled program has " +
                             std::to_string(st.st_size / sizeof(sock_filter)) +
                             " instructions, more than the kernel's limit of " +
                             std::to_string(BPF_MAXINSNS));
    std::vector<sock_filter> program(st.st_size / sizeof(sock_filter));
    auto* out = reinterpret_cast<char*>(program.data());
    size_t done = 0, total = static_cast<size_t>(st.st_size);
    while (done < total) {
        ssize_t n = ::pread(mem.get(), out + done, total - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw system_error("read back the seccomp program", n < 0 ? errno : EIO);
        done += static_cast<size_t>(n);
    }
    return program;
}

// Between loading the filter and execve the container's first process makes only the calls
// that child.hpp lists next to the code that makes them. See the comment at the top of this file.
const std::set<std::string>& pre_exec_syscalls() {
    static const std::set<std::string> names(std::begin(detail::kSyscallsAfterSeccomp),
                                             std::end(detail::kSyscallsAfterSeccomp));
    return names;
}

}  // namespace

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

SeccompProgram compile_seccomp(const Seccomp& profile) {
    // Also makes libseccomp probe the kernel for SCMP_ACT_NOTIFY before it is used.
    const bool notify_supported = seccomp_api_get() >= 5;
    auto require_notify = [&] {
        if (!notify_supported)
            throw make_error(ErrorKind::unsupported,
                             "linux.seccomp: recording denials needs seccomp user notification "
                             "(Linux 5.0 and libseccomp API level 5)");
    };

    const Action default_action =
        parse_action(profile.default_action, profile.default_errno_ret,
                     "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet");
    std::vector<uint32_t> arches;
    for (size_t i = 0; i < profile.architectures.size(); ++i)
        arches.push_back(parse_architecture(
            profile.architectures[i], "linux.seccomp.architectures[" + std::to_string(i) + "]"));
    std::vector<ResolvedRule> rules;
    for (size_t i = 0; i < profile.syscalls.size(); ++i)
        rules.push_back(resolve_rule(profile.syscalls[i], i));

    SeccompProgram program;
    const bool default_errno = default_action.kind == Action::Kind::errno_ret;
    uint32_t default_scmp = libseccomp_action(default_action);
    if (default_errno) {
        require_notify();
        default_scmp = SCMP_ACT_NOTIFY;
        program.needs_listener = true;
        program.default_notify_errno = static_cast<int>(default_action.data);
    }

    const int clone3_nr = seccomp_syscall_resolve_name("clone3");
    std::set<int> never_notified{clone3_nr, seccomp_syscall_resolve_name("socketcall")};
    for (const auto& name : pre_exec_syscalls())
        never_notified.insert(seccomp_syscall_resolve_name(name.c_str()));

    // Which syscalls a rule mentions at all, and which unconditionally (the default action can
    // no longer be reached for those).
    std::set<int> mentioned, unconditional;
    for (const auto& rule : rules)
        for (const auto& [name, nr] : rule.syscalls) {
            mentioned.insert(nr);
            if (rule.conditions.empty()) unconditional.insert(nr);
        }

    // The one errno each notified syscall is answered with (see the top of this file).
    std::map<int, int> answered;
    auto compiled_action = [&](const Action& action, int nr) -> uint32_t {
        if (action.kind != Action::Kind::errno_ret || never_notified.count(nr))
            return libseccomp_action(action);
        int err = static_cast<int>(action.data);
        auto it = answered.find(nr);
        if (it == answered.end()) {
            bool default_reachable = default_errno && !unconditional.count(nr);
            int first = default_reachable ? program.default_notify_errno : err;
            it = answered.emplace(nr, first).first;
        }
        if (it->second != err) return libseccomp_action(action);
        require_notify();
        program.needs_listener = true;
        return SCMP_ACT_NOTIFY;
    };

    FilterContext filter(default_scmp);
    for (uint32_t arch : arches) {
        int rc = seccomp_arch_add(filter.ctx, arch);
        if (rc < 0 && rc != -EEXIST) throw system_error("seccomp_arch_add", -rc);
    }
    size_t rules_added = 0;
    auto add_rule = [&](const std::string& field, const std::string& name, uint32_t action, int nr,
                        const std::vector<scmp_arg_cmp>& chain) {
        // libseccomp refuses a rule that repeats the default action; it changes nothing.
        if (action == default_scmp) return;
        int rc = seccomp_rule_add_array(filter.ctx, action, nr, chain.size(), chain.data());
        ++rules_added;
        if (rc < 0)
            throw invalid_argument(
                field, "cannot add rule for syscall \"" + name + "\": " + std::strerror(-rc));
    };
    for (const auto& rule : rules)
        for (const auto& [name, nr] : rule.syscalls)
            for (const auto& chain : condition_chains(rule.conditions))
                add_rule(rule.field, name, compiled_action(rule.action, nr), nr, chain);

    const bool default_denies =
        default_action.kind != Action::Kind::allow && default_action.kind != Action::Kind::log;
    if (default_denies && !mentioned.count(clone3_nr))
        add_rule("linux.seccomp", "clone3", SCMP_ACT_ERRNO(ENOSYS), clone3_nr, {});
    if (default_errno)
        for (const auto& name : pre_exec_syscalls()) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (!mentioned.count(nr))
                add_rule("linux.seccomp", name, SCMP_ACT_ERRNO(default_action.data), nr, {});
        }

    for (const auto& [nr, err] : answered)
        if (err != program.default_notify_errno) program.notify_errno[nr] = err;
    // A binary tree of syscall numbers instead of a linear list keeps long allow-lists fast
    // and within BPF_MAXINSNS on three architectures. Only with rules: libseccomp up to 2.5.4
    // generates a broken tree for an empty filter.
    if (rules_added > 32) seccomp_attr_set(filter.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    program.filter = export_bpf(filter.ctx);
    return program;
}

SeccompNotifier::SeccompNotifier(int listener_fd, SeccompProgram program)
    : fd_(listener_fd), program_(std::move(program)) {
    // libseccomp's notify calls answer EOPNOTSUPP until it has probed the kernel; a monitor
    // process that never compiled a filter has not.
    seccomp_api_get();
}

SeccompNotifier::~SeccompNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<BlockedSyscall> SeccompNotifier::handle_one() {
    struct seccomp_notif* req = nullptr;
    struct seccomp_notif_resp* resp = nullptr;
    if (int rc = seccomp_notify_alloc(&req, &resp); rc < 0)
        throw system_error("seccomp_notify_alloc", -rc);
    std::unique_ptr<seccomp_notif, void (*)(seccomp_notif*)> req_guard(
        req, [](seccomp_notif* p) { seccomp_notify_free(p, nullptr); });
    std::unique_ptr<seccomp_notif_resp, void (*)(seccomp_notif_resp*)> resp_guard(
        resp, [](seccomp_notif_resp* p) { seccomp_notify_free(nullptr, p); });

    // Newer kernels insist on a zeroed request buffer.
    std::memset(req, 0, sizeof *req);
    errno = 0;
    if (seccomp_notify_receive(fd_, req) < 0) {
        // libseccomp folds the ioctl's errno into ECANCELED but leaves errno alone. ENOENT:
        // the target was killed after the notification was queued.
        if (errno == ENOENT) return std::nullopt;
        throw system_error("seccomp notification receive on fd " + std::to_string(fd_));
    }

    BlockedSyscall blocked;
    blocked.pid = static_cast<pid_t>(req->pid);
    blocked.nr = req->data.nr;
    blocked.when = std::chrono::system_clock::now();
    int native_nr = req->data.nr;
    uint32_t arch = req->data.arch;
    // x32 calls arrive with x86_64's audit arch and __X32_SYSCALL_BIT set in the number.
    if (arch == SCMP_ARCH_X86_64 && (req->data.nr & 0x40000000)) arch = SCMP_ARCH_X32;
    if (char* name = seccomp_syscall_resolve_num_arch(arch, req->data.nr)) {
        blocked.name = name;
        std::free(name);
        // notify_errno is keyed by native numbers; a 32-bit or x32 caller's number differs.
        if (arch != seccomp_arch_native())
            native_nr = seccomp_syscall_resolve_name(blocked.name.c_str());
    } else {
        blocked.name = "syscall_" + std::to_string(req->data.nr);
    }
    auto it = program_.notify_errno.find(native_nr);
    int err = it != program_.notify_errno.end() ? it->second : program_.default_notify_errno;

    // The target may have died since the receive; its id is then no longer valid.
    if (seccomp_notify_id_valid(fd_, req->id) < 0) return std::nullopt;
    std::memset(resp, 0, sizeof *resp);
    resp->id = req->id;
    resp->val = 0;
    resp->error = -err;
    resp->flags = 0;
    errno = 0;
    if (seccomp_notify_respond(fd_, resp) < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw system_error("seccomp notification respond (" + blocked.name + ")");
    }
    return blocked;
}

}  // namespace truman
