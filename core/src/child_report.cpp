// The child's report (child_report.hpp). Built like child.cpp: report_failure() runs in the
// child, between clone and execve.

#include "child_report.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include "child_syscalls.hpp"

namespace truman::detail {

const char* to_string(ChildStep step) noexcept {
    switch (step) {
        case ChildStep::ready:
            return "ready";
        case ChildStep::wait_for_parent:
            return "wait for the parent";
        case ChildStep::join_namespace:
            return "setns";
        case ChildStep::unshare_cgroup_namespace:
            return "unshare(CLONE_NEWCGROUP)";
        case ChildStep::become_container_root:
            return "setresuid/setresgid to container root";
        case ChildStep::setsid:
            return "setsid";
        case ChildStep::loopback_up:
            return "bring lo up";
        case ChildStep::sethostname:
            return "sethostname";
        case ChildStep::setdomainname:
            return "setdomainname";
        case ChildStep::make_root_private:
            return "make / private";
        case ChildStep::mount_root:
            return "mount the root filesystem";
        case ChildStep::fs_op:
            return "mount";
        case ChildStep::pivot_root:
            return "pivot_root";
        case ChildStep::detach_old_root:
            return "umount2 old root";
        case ChildStep::chdir_root:
            return "chdir /";
        case ChildStep::remount_root_readonly:
            return "remount / read-only";
        case ChildStep::set_root_propagation:
            return "set rootfs propagation";
        case ChildStep::join_container:
            return "setns into the container's namespaces";
        case ChildStep::fork_exec:
            return "fork the confined exec";
        case ChildStep::setrlimit:
            return "setrlimit";
        case ChildStep::drop_bounding_capability:
            return "drop bounding capability";
        case ChildStep::keep_capabilities:
            return "prctl(PR_SET_KEEPCAPS)";
        case ChildStep::setgroups:
            return "setgroups";
        case ChildStep::setresgid:
            return "setresgid";
        case ChildStep::setresuid:
            return "setresuid";
        case ChildStep::capset:
            return "capset";
        case ChildStep::raise_ambient_capability:
            return "raise ambient capability";
        case ChildStep::set_non_dumpable:
            return "prctl(PR_SET_DUMPABLE, 0)";
        case ChildStep::set_stdio:
            return "dup3 stdio";
        case ChildStep::open_terminal:
            return "open /dev/pts/ptmx";
        case ChildStep::set_controlling_terminal:
            return "set the controlling terminal";
        case ChildStep::close_descriptors:
            return "close_range";
        case ChildStep::chdir_cwd:
            return "chdir";
        case ChildStep::verify_cwd:
            return "verify the cwd";
        case ChildStep::reset_signals:
            return "reset signal mask and dispositions";
        case ChildStep::open_root:
            return "open the container's root";
        case ChildStep::set_no_new_privs:
            return "prctl(PR_SET_NO_NEW_PRIVS)";
        case ChildStep::load_seccomp:
            return "seccomp(SECCOMP_SET_MODE_FILTER)";
        case ChildStep::report_ready:
            return "report ready";
        case ChildStep::wait_for_start:
            return "wait for start";
        case ChildStep::execve:
            return "execve";
        case ChildStep::join_cgroup:
            return "join the v1 cgroup (write 0 to its tasks file)";
    }
    return "unknown step";
}

void report_failure(int report_fd, ChildStep step, long neg_errno, int32_t value) noexcept {
    ChildReport report{step, static_cast<int32_t>(-neg_errno), value, -1};
    ::syscall(SYS_write, report_fd, &report, sizeof report);
    child::exit_now(127);
}

}  // namespace truman::detail
