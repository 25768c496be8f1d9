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

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "child_confine.hpp"
#include "child_report.hpp"

namespace truman::detail {

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
    // Descriptors: the child reads go_fd (parent finished uid maps and cgroup),
    // writes reports to status_fd, and reads start_fd before execve. They may all be the
    // child's end of one SOCK_SEQPACKET socketpair; parent_end is the parent's end, which the
    // child closes first so that the parent's death reads as EOF.
    int go_fd = -1;
    int status_fd = -1;
    int start_fd = -1;
    int parent_end = -1;

    // The v1 cgroup files to join by ourselves first (Cgroup::open_join_files).
    const int* cgroup_joins = nullptr;
    size_t ncgroup_joins = 0;

    const NamespaceJoin* joins = nullptr;
    size_t njoins = 0;
    bool unshare_cgroup_namespace = false;
    bool user_namespace = false;

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

    // Who the init becomes and what it runs: the part an exec shares (child_confine.hpp).
    ProcessPlan process;
};

// The child: runs the plan and execs, or reports and _exit(127). Never returns.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

}  // namespace truman::detail
