// The plan a process that joins a running container (exec) carries out between clone3 and
// execveat, and the child itself. Same rules as child.hpp: the parent (the container's
// monitor) prepared everything; the child only reads the plan and makes raw system calls,
// and a failure is one fixed-size ChildReport (child_report.hpp) on a CLOEXEC socket, then
// _exit(127).
#pragma once

#include "child_confine.hpp"
#include "child_report.hpp"

namespace truman::detail {

struct ExecPlan {
    // One SOCK_SEQPACKET socketpair: the child reads "go" and "start" bytes from sync_fd and
    // writes reports to it; parent_end is the parent's end, closed by the child first.
    int sync_fd = -1;
    int parent_end = -1;

    // setns(init_pidfd, ns_flags): every namespace of the container at once, the kernel
    // entering the user namespace first. The PID namespace is not among them: the child was
    // created in it (see exec.cpp).
    int init_pidfd = -1;
    int ns_flags = 0;

    // The v1 cgroup files to join by ourselves first, before setns (Cgroup::open_join_files).
    const int* cgroup_joins = nullptr;
    size_t ncgroup_joins = 0;

    // A container that holds CAP_SYS_PTRACE without a user namespace can ptrace, or open
    // /proc/<pid>/root, cwd and exe of, any process it sees, non-dumpable or not. Then the
    // child is not born in the container's PID namespace: ns_flags has CLONE_NEWPID too (for
    // its children), it is confined first, and only then forks (CLONE_PARENT: a child of the
    // monitor) the process that runs the program, which reports nothing but a failed execve.
    // It reports that process's PID (fork_exec) and exits.
    bool fork_when_confined = false;

    // Who the exec becomes and what it runs, exactly as the init's (child_confine.hpp), with
    // non_dumpable set.
    ProcessPlan process;
};

[[noreturn]] void exec_child_main(const ExecPlan& plan) noexcept;

}  // namespace truman::detail
