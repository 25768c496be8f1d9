// The plan the child executes between clone() and execve(), and the child itself.
//
// Everything here is flat: C strings and arrays that the parent prepared (they live in the
// parent's memory, which the fork-like child sees as a copy-on-write image). The child only
// reads the plan and makes raw system calls; it never allocates, locks, logs or throws (the
// file is built with -fno-exceptions). A failure is reported as one fixed-size ChildReport on
// a CLOEXEC socket, then _exit(127).
//
// Paths inside the container are never resolved by the parent: each one is resolved by the
// child at the moment it uses it, beneath the container's root as it stands then (earlier
// mounts included), with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). A symlink planted
// in an image, a rootfs or a shared volume therefore cannot lead a mount, mkdir, mknod or
// chdir out of the container.
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
    verify_cwd,  // the cwd turned out not to be beneath the container's root
    reset_signals,
    open_root,
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

// Every target below is a path relative to the container's root ("dev/null", "." for the
// root itself), resolved by the child beneath the root when the op runs. Ops that create
// something (mkdir, mknod, create_file, symlink) resolve `parent` and create `name` in it
// without following `name` itself.
enum class FsOpKind : uint8_t {
    mount,          // mount(source, target, fstype, flags, data); with MS_BIND the source is a
                    // host path, opened without magic links
    bind_remount,   // MS_REMOUNT|MS_BIND|flags on the mount now at target, keeping locked flags
    mkdir,          // mkdirat(parent, name, mode); EEXIST is fine
    replace_file,   // a regular file at parent/name for a mount point; a symlink there is
                    // removed first, never followed (mount option "nofollow")
    mknod,          // mknodat(parent, name, mode, dev), then fchownat(uid, gid)
    create_file,    // a mount point for a file bind mount: target if it resolves, else
                    // openat(parent, name, O_CREAT|O_EXCL|O_NOFOLLOW)
    symlink,        // symlinkat(source, parent, name); EEXIST is fine
    mask,           // dir -> read-only empty tmpfs; file -> bind of `source` (the root's dev/null)
    make_readonly,  // bind target onto itself, then remount read-only
};

struct FsOp {
    FsOpKind kind;
    bool optional;  // ENOENT on the target means "not here": skip it
    const char* source;
    const char* target;
    const char* parent;
    const char* name;
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
    const char* overlay_cwd = nullptr;  // chdir here first: lowerdir names are relative to it
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

// The system calls child_main() makes after it may have loaded the seccomp filter (when
// no_new_privs is off the filter goes in before the user switch: step 10 in child.cpp). The
// seccomp compiler answers these in the kernel instead of through the listener, which only
// reaches the monitor once the child is parked; a notified call there would wait forever.
// Kept next to the code that makes them so the two cannot drift.
inline constexpr const char* kSyscallsAfterSeccomp[] = {
    "read",       "write", "close",     "close_range", "execve",    "execveat", "exit",
    "exit_group", "prctl", "setgroups", "setresgid",   "setresuid", "capset",   "umask",
    "dup3",       "fcntl", "openat",    "openat2",     "fchdir",    "getcwd",
};

}  // namespace truman::detail
