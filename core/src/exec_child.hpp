// The plan a process that joins a running container (exec) carries out between clone3 and
// execveat, and the child itself. Same rules as child.hpp: the parent (the container's
// monitor) prepared everything; the child only reads the plan and makes raw system calls,
// and a failure is one fixed-size ExecReport on a CLOEXEC socket, then _exit(127).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace truman::detail {

enum class ExecStep : int32_t {
    ready = 0,  // not a failure: set up and parked; value = seccomp listener fd or -1
    wait_for_parent,
    reset_signals,
    join_namespaces,
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
    close_descriptors,
    chdir_cwd,
    verify_cwd,  // the cwd turned out not to be beneath the container's root
    set_no_new_privs,
    load_seccomp,
    report_ready,
    wait_for_start,
    open_root,
    execve,
};

const char* to_string(ExecStep step) noexcept;

struct ExecReport {
    ExecStep step;
    int32_t err;
    int32_t value;
};

struct ExecPlan {
    // One SOCK_SEQPACKET socketpair: the child reads "go" and "start" bytes from sync_fd and
    // writes reports to it; parent_end is the parent's end, closed by the child first.
    int sync_fd = -1;
    int parent_end = -1;
    int stdio[3] = {-1, -1, -1};

    // setns(init_pidfd, ns_flags): every namespace of the container at once, the kernel
    // entering the user namespace first. The PID namespace is not among them: the child was
    // created in it (see exec.cpp).
    int init_pidfd = -1;
    int ns_flags = 0;
    bool may_setgroups = true;

    const struct rlimit* rlimit_values = nullptr;
    const int* rlimit_resources = nullptr;
    size_t nrlimits = 0;

    uint64_t cap_bounding = 0, cap_effective = 0, cap_permitted = 0, cap_inheritable = 0,
             cap_ambient = 0;
    int last_cap = 40;

    uint32_t uid = 0, gid = 0;
    const gid_t* groups = nullptr;
    size_t ngroups = 0;
    int umask = -1;

    const char* cwd = "/";
    bool no_new_privs = true;

    const sock_filter* seccomp_filter = nullptr;
    unsigned short seccomp_len = 0;
    unsigned seccomp_flags = 0;

    // Candidates for argv[0] (the PATH walk, done by the parent), each opened by the child
    // beneath the container's root and executed through that descriptor.
    const char* const* exec_paths = nullptr;
    size_t nexec_paths = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
};

[[noreturn]] void exec_child_main(const ExecPlan& plan) noexcept;

}  // namespace truman::detail
