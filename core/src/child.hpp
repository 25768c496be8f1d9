// The plan the child executes between clone() and execve(), and the child itself.
//
// Everything here is flat: C strings and arrays that the parent prepared (they live in the
// parent's memory, which the fork-like child sees as a copy-on-write image). The child only
// reads the plan and makes raw system calls; it never allocates, locks, logs or throws. A
// failure is reported as one fixed-size ChildReport on a CLOEXEC pipe, then _exit(127).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace truman::detail {

// What the child was doing when it failed; the parent turns it into "pivot_root: EINVAL".
enum class ChildStep : int32_t {
    ready = 0,  // not a failure: parked before execve; value = seccomp listener fd or -1
    wait_for_parent,
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
    setrlimit,  // value = index into rlimits
    drop_bounding_capability,
    keep_capabilities,
    setgroups,
    setresgid,
    setresuid,
    capset,
    raise_ambient_capability,
    set_umask,
    set_stdio,
    close_descriptors,
    chdir_cwd,
    set_no_new_privs,
    load_seccomp,
    report_ready,
    wait_for_start,
    execve,
};

const char* to_string(ChildStep step) noexcept;

struct ChildReport {
    ChildStep step;
    int32_t err;    // errno, 0 for ready
    int32_t value;  // step-specific: an index, or the listener fd
};

enum class FsOpKind : uint8_t {
    mount,         // mount(source, target, fstype, flags, data)
    bind_remount,  // mount(NULL, target, NULL, MS_REMOUNT|MS_BIND|flags, NULL) keeping locked flags
    mkdir,         // mkdir(target, mode); EEXIST is fine
    mknod,         // mknod(target, mode, dev) then chown(uid, gid)
    create_file,   // open(O_CREAT) + close: a mount point for a file bind mount
    symlink,       // symlink(source, target); EEXIST is fine
    mask,          // dir -> read-only empty tmpfs; file -> bind /dev/null
    make_readonly,  // bind target onto itself, then remount read-only
};

struct FsOp {
    FsOpKind kind;
    bool optional;  // ENOENT on the target means "not here": skip it
    const char* source;
    const char* target;
    const char* fstype;
    unsigned long flags;
    const char* data;
    uint32_t mode;
    dev_t dev;
    uint32_t uid;
    uint32_t gid;
};

struct NamespaceJoin {
    int fd;      // opened by the parent, O_CLOEXEC
    int nstype;  // CLONE_NEWNET, ...
};

struct ChildPlan {
    // Descriptors: the child reads go_fd (parent finished uid maps, cgroup, network),
    // writes reports to status_fd, and reads start_fd before execve. They may all be the
    // child's end of one SOCK_SEQPACKET socketpair; parent_end is the parent's end, which the
    // child closes first so that the parent's death reads as EOF.
    int go_fd = -1;
    int status_fd = -1;
    int start_fd = -1;
    int parent_end = -1;
    int stdio[3] = {-1, -1, -1};

    const NamespaceJoin* joins = nullptr;
    size_t njoins = 0;
    bool unshare_cgroup_namespace = false;
    bool user_namespace = false;
    bool may_setgroups = true;  // false when setgroups is denied (rootless)

    bool loopback_up = false;  // bring lo up in the (new) network namespace

    const char* hostname = nullptr;  // nullptr: leave alone
    const char* domainname = nullptr;

    // Mount namespace: root_propagation_before is applied to "/" before anything
    // (MS_REC|MS_PRIVATE); the root is an overlay (overlay_data != nullptr) or a recursive bind.
    const char* rootfs = nullptr;
    const char* overlay_data = nullptr;
    const FsOp* fs_ops = nullptr;
    size_t nfs_ops = 0;
    bool readonly_root = false;
    unsigned long root_propagation = 0;  // after pivot; 0 = leave private

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

    // execve candidates: argv[0] resolved against the container's PATH by the parent.
    const char* const* exec_paths = nullptr;
    size_t nexec_paths = 0;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
};

// The child: runs the plan and execs, or reports and _exit(127). Never returns.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

}  // namespace truman::detail
