// What a process becomes before it runs the container's program, and the child-side routine
// that makes it so: the credentials, limits, descriptors, cwd and seccomp filter that the
// container's init (child.cpp) and every exec into it (exec_child.cpp) share. One plan type
// and one routine, so that an exec can never be confined differently from the init by an
// edit made to one copy only.
//
// Same rules as child.hpp: the parent (container.cpp, exec.cpp via process_plan.cpp) fills
// the plan with pointers into memory it keeps alive; the child only reads it and makes raw
// system calls (the file is built with -fno-exceptions).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace truman::detail {

struct ProcessPlan {
    int stdio[3] = {-1, -1, -1};
    // Instead of stdio: a new pty from the container's own devpts (/dev/pts/ptmx, opened as
    // the process's user, so the slave is theirs), whose slave becomes 0-2 and the
    // controlling terminal of the process, which leads a session of its own. The master is
    // handed to the parent with the ready report.
    bool terminal = false;
    // With terminal: leave setsid and TIOCSCTTY to a process forked after confine() (an exec
    // that forks once confined, exec_child.cpp), which must lead the terminal's session: the
    // exit of a session leader takes the controlling terminal away from its session.
    bool session_after_fork = false;

    const struct rlimit* rlimit_values = nullptr;
    const int* rlimit_resources = nullptr;
    size_t nrlimits = 0;

    uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0,
             cap_ambient = 0;
    int last_cap = 40;

    uint32_t uid = 0, gid = 0;
    const gid_t* groups = nullptr;
    size_t ngroups = 0;
    bool may_setgroups = true;  // false when setgroups is denied (rootless)
    int umask = -1;
    // Clear "dumpable" again after the user switch, which resets it to fs.suid_dumpable: an
    // exec is the monitor's binary until execve, and the container must not reach it.
    bool non_dumpable = false;

    const char* cwd = "/";
    bool no_new_privs = true;

    const sock_filter* seccomp_filter = nullptr;
    unsigned short seccomp_len = 0;
    unsigned seccomp_flags = 0;

    // execve candidates: argv[0] resolved against the container's PATH by the parent.
    const char* const* exec_paths = nullptr;
    size_t nexec_paths = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
};

// From resource limits to the seccomp filter, in the one order that works (each step needs a
// privilege a later one drops): rlimits, the bounding set, the filter early when there is no
// no_new_privs, the user and its capabilities, umask, stdio, closing every descriptor but
// 0-2, keep[] and the listener, the cwd (resolved beneath "/" and verified), no_new_privs,
// the filter. The caller must already be in the container's mount namespace with its root
// as "/". Returns what to hand to the parent: the seccomp listener and the terminal's master,
// each -1 if there is none. A failure is reported on report_fd and the process exits.
struct Confined {
    int listener = -1;
    int terminal = -1;
};
Confined confine(const ProcessPlan& plan, int report_fd, const int* keep, size_t nkeep) noexcept;

// Tell the parent we are ready (and which fds are our listener and terminal master, for
// pidfd_getfd), wait for the start byte on start_fd, then close them. EOF instead of a start
// byte means the parent gave up on us: exit quietly.
void park(int report_fd, int start_fd, Confined confined) noexcept;

// The system calls made after the seccomp filter may have been loaded (when no_new_privs is
// off it goes in before the user switch): the rest of confine(), park(), and the execve loops
// of child.cpp and exec_child.cpp. The seccomp compiler answers these in the kernel instead
// of through the listener, which only reaches the monitor once the child is parked; a
// notified call there would wait forever. Kept next to the code that makes them so the two
// cannot drift.
inline constexpr const char* kSyscallsAfterSeccomp[] = {
    "read",   "write",     "close",     "close_range", "execve", "execveat", "exit", "exit_group",
    "prctl",  "setgroups", "setresgid", "setresuid",   "capset", "umask",    "dup3", "fcntl",
    "openat", "openat2",   "fchdir",    "getcwd",      "ioctl",  "setsid",
};

}  // namespace truman::detail
