// The child's system-call primitives: what every process truman sets up between clone (or
// fork) and execve may use -- the container's init (child.cpp) and, later, processes that
// join a running container. Same rules as child.cpp: raw syscall(2) only, no allocation, no
// locks, no logging, no exceptions (these files are built with -fno-exceptions).
#pragma once

#include <linux/openat2.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace truman::detail {
struct FsOp;
}

namespace truman::detail::child {

// Each returns 0 (or a non-negative result) or -errno.
long sys(long r) noexcept;
void close_fd(int fd) noexcept;
[[noreturn]] void exit_now(int status) noexcept;
size_t length(const char* s) noexcept;

// "/proc/self/fd/<fd>": how mount(2), which takes paths, reaches a directory the child
// resolved itself. The kernel follows that magic link to exactly the dentry the descriptor
// holds, so nothing can swap the path between resolving and mounting (runc does the same).
struct FdPath {
    char text[32];
    explicit FdPath(int fd) noexcept;
    const char* get() const noexcept { return text; }
};

// An fd that the child closes on every path out of a scope (a destructor, not an
// allocation: it is fine here).
struct ChildFd {
    int fd;
    explicit ChildFd(long r) noexcept : fd(r >= 0 ? static_cast<int>(r) : -1) {}
    ~ChildFd() { close_fd(fd); }
    ChildFd(const ChildFd&) = delete;
    ChildFd& operator=(const ChildFd&) = delete;
};

inline constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// Resolve path beneath root (a directory fd that acts as "/" for the walk: absolute links and
// ".." stop there), never through a magic link such as /proc/self/fd/N.
long open_beneath(int root, const char* path, uint64_t flags, uint64_t resolve = kInRoot,
                  uint64_t mode = 0) noexcept;

// Flags that a remount must keep (locked in a user namespace), read with fstatfs.
unsigned long locked_flags(int fd) noexcept;
long mount_at(const char* source, int target, const char* fstype, unsigned long flags,
              const char* data) noexcept;
long bind_remount(int target, unsigned long flags) noexcept;

// Read one byte: 1 means go on, 0 (EOF) means the parent gave up on us.
long wait_byte(int fd) noexcept;
// lo up with two ioctls (no netlink message to build; works rootless).
long bring_loopback_up() noexcept;
// Write "0" to each of fds, a v1 cgroup's "tasks" file open for writing, then close it: the
// calling thread, the process's only one, moves itself in (Cgroup::open_join_files). 0, or
// -errno with *failed the index of the file that refused.
long join_cgroups(const int* fds, size_t n, size_t* failed) noexcept;
// Empty signal mask, every disposition back to SIG_DFL.
long reset_signals() noexcept;
// Close every descriptor except those in keep (sorted in place; -1 entries ignored).
long close_all_except(int* keep, size_t n) noexcept;

// Run one filesystem op of the container's plan beneath root (child_fs.cpp).
long run_fs_op(int root, const FsOp& op) noexcept;

}  // namespace truman::detail::child
