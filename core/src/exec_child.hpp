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

    // Who the exec becomes and what it runs, exactly as the init's (child_confine.hpp), with
    // non_dumpable set.
    ProcessPlan process;
};

[[noreturn]] void exec_child_main(const ExecPlan& plan) noexcept;

}  // namespace truman::detail
