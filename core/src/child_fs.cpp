// The child's filesystem ops (FsOp, child.hpp): each resolves its own path beneath the
// container's root at the moment it runs. Same rules as child.cpp.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "child.hpp"
#include "child_syscalls.hpp"

namespace truman::detail::child {

namespace {

// The op's target, resolved now beneath root. O_PATH: the child needs the location, not
// access to the file; it may be a device node or a directory the user cannot read.
long open_target(int root, const FsOp& op) noexcept {
    return open_beneath(root, op.target, O_PATH);
}

long open_parent(int root, const FsOp& op) noexcept {
    return open_beneath(root, op.parent, O_PATH | O_DIRECTORY);
}

long bind_mount(int root, const FsOp& op) noexcept {
    // The source is a host path chosen by the caller; it may follow ordinary symlinks but not
    // magic ones (/proc/self/fd/N would hand over whatever descriptor the child holds).
    long fd = open_beneath(AT_FDCWD, op.source, O_PATH, RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return fd;
    ChildFd source(fd);
    fd = open_target(root, op);
    if (fd < 0) return fd;
    ChildFd target(fd);
    return mount_at(FdPath(source.fd).get(), target.fd, nullptr, op.flags, nullptr);
}

}  // namespace

long run_fs_op(int root, const FsOp& op) noexcept {
    switch (op.kind) {
        case FsOpKind::mount: {
            if (op.source && (op.flags & MS_BIND)) return bind_mount(root, op);
            long fd = open_target(root, op);
            if (fd < 0) return fd;
            ChildFd target(fd);
            return mount_at(op.source, target.fd, op.fstype, op.flags, op.data);
        }
        case FsOpKind::bind_remount: {
            long fd = open_target(root, op);  // now the root of the mount made before
            if (fd < 0) return fd;
            ChildFd target(fd);
            return bind_remount(target.fd, op.flags);
        }
        case FsOpKind::mkdir: {
            long fd = open_parent(root, op);
            if (fd < 0) return fd;
            ChildFd parent(fd);
            long r = sys(::syscall(SYS_mkdirat, parent.fd, op.name, op.mode));
            return r == -EEXIST ? 0 : r;
        }
        case FsOpKind::mknod: {
            long fd = open_parent(root, op);
            if (fd < 0) return fd;
            ChildFd parent(fd);
            long r = sys(::syscall(SYS_mknodat, parent.fd, op.name, op.mode, op.dev));
            if (r < 0) return r;
            return sys(
                ::syscall(SYS_fchownat, parent.fd, op.name, op.uid, op.gid, AT_SYMLINK_NOFOLLOW));
        }
        case FsOpKind::create_file: {
            // An existing target (a file, or a link that resolves inside the root) is used
            // as it is. Otherwise the file is made in the resolved parent, never through a
            // dangling link: O_EXCL|O_NOFOLLOW refuse whatever sits at the name meanwhile.
            long fd = open_target(root, op);
            if (fd >= 0) {
                close_fd(static_cast<int>(fd));
                return 0;
            }
            if (fd != -ENOENT) return fd;
            fd = open_parent(root, op);
            if (fd < 0) return fd;
            ChildFd parent(fd);
            long file = sys(::syscall(SYS_openat, parent.fd, op.name,
                                      O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644));
            if (file < 0) return file;
            close_fd(static_cast<int>(file));
            return 0;
        }
        case FsOpKind::replace_file: {
            long fd = open_parent(root, op);
            if (fd < 0) return fd;
            ChildFd parent(fd);
            struct stat st;
            long r = sys(::syscall(SYS_newfstatat, parent.fd, op.name, &st, AT_SYMLINK_NOFOLLOW));
            if (r == 0 && S_ISREG(st.st_mode)) return 0;
            if (r == 0 && !S_ISLNK(st.st_mode)) return -EISDIR;  // a directory, a node...
            if (r == 0) {
                r = sys(::syscall(SYS_unlinkat, parent.fd, op.name, 0));
                if (r < 0) return r;
            } else if (r != -ENOENT) {
                return r;
            }
            long file = sys(::syscall(SYS_openat, parent.fd, op.name,
                                      O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644));
            if (file < 0) return file;
            close_fd(static_cast<int>(file));
            return 0;
        }
        case FsOpKind::symlink: {
            long fd = open_parent(root, op);
            if (fd < 0) return fd;
            ChildFd parent(fd);
            long r = sys(::syscall(SYS_symlinkat, op.source, parent.fd, op.name));
            return r == -EEXIST ? 0 : r;
        }
        case FsOpKind::mask: {
            long fd = open_target(root, op);
            if (fd < 0) return fd;
            ChildFd target(fd);
            struct stat st;
            long r = sys(::syscall(SYS_fstat, target.fd, &st));
            if (r < 0) return r;
            if (S_ISDIR(st.st_mode))
                return mount_at("tmpfs", target.fd, "tmpfs",
                                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555");
            // source: the container's own /dev/null, resolved like any other path.
            long null_fd = open_beneath(root, op.source, O_PATH);
            if (null_fd < 0) return null_fd;
            ChildFd null(null_fd);
            return mount_at(FdPath(null.fd).get(), target.fd, nullptr, MS_BIND, nullptr);
        }
        case FsOpKind::make_readonly: {
            long fd = open_target(root, op);
            if (fd < 0) return fd;
            {
                ChildFd target(fd);
                long r = mount_at(FdPath(target.fd).get(), target.fd, nullptr, MS_BIND | MS_REC,
                                  nullptr);
                if (r < 0) return r;
            }
            fd = open_target(root, op);  // the bind mount just made, not the dentry under it
            if (fd < 0) return fd;
            ChildFd bound(fd);
            return bind_remount(bound.fd, MS_RDONLY | MS_REC);
        }
    }
    return -EINVAL;
}

}  // namespace truman::detail::child
