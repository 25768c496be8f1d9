// What a child between clone and execve reports to its parent: one step vocabulary for the
// container's init (child.cpp) and for a process joining a running container (exec_child.cpp),
// which share most of their steps (child_confine.cpp) and so their messages.
#pragma once

#include <cstdint>

namespace truman::detail {

// What the child was doing when it failed; the parent turns it into "pivot_root: EINVAL".
enum class ChildStep : int32_t {
    ready = 0,  // not a failure: parked before execve; value = seccomp listener fd or -1
    wait_for_parent,
    // The init's own steps (child.cpp).
    join_namespace,
    unshare_cgroup_namespace,
    become_container_root,
    setsid,
    loopback_up,
    sethostname,
    setdomainname,
    make_root_private,
    mount_root,
    fs_op,  // value = index into ChildPlan::fs_ops
    pivot_root,
    detach_old_root,
    chdir_root,
    remount_root_readonly,
    set_root_propagation,
    // An exec's own step (exec_child.cpp).
    join_container,
    fork_exec,  // the process that runs the program, forked once confined; value = its PID
    // The confinement both share (child_confine.cpp).
    setrlimit,  // value = index into rlimits
    drop_bounding_capability,
    keep_capabilities,
    setgroups,
    setresgid,
    setresuid,
    capset,
    raise_ambient_capability,
    set_non_dumpable,
    set_stdio,
    open_terminal,             // /dev/pts/ptmx of the container's devpts, and its peer
    set_controlling_terminal,  // setsid, TIOCSCTTY
    close_descriptors,
    chdir_cwd,
    verify_cwd,  // the cwd turned out not to be beneath the container's root
    reset_signals,
    open_root,
    set_no_new_privs,
    load_seccomp,
    report_ready,
    wait_for_start,
    execve,
    // Both: writing "0" to a v1 cgroup's tasks file (ChildPlan::cgroup_joins); value = index.
    join_cgroup,
};

const char* to_string(ChildStep step) noexcept;

struct ChildReport {
    ChildStep step;
    int32_t err;    // errno, 0 for ready
    int32_t value;  // step-specific: an index, or the listener fd
    // ready: the fd of the terminal's master (ProcessPlan::terminal), for pidfd_getfd; -1.
    int32_t terminal = -1;
};

// Write {step, -neg_errno, value} to report_fd and _exit(127). A short write can only mean
// the parent is gone; there is nothing more to do either way.
[[noreturn]] void report_failure(int report_fd, ChildStep step, long neg_errno,
                                 int32_t value = 0) noexcept;

}  // namespace truman::detail
