// Named network namespaces, laid out exactly like iproute2's `ip netns add` so that `ip netns
// list/exec/delete` work on ours and we on theirs: <dir> is a shared mount point and each
// namespace is /proc/<tid>/ns/net of a freshly unshared thread bind-mounted on <dir>/<name>.
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/network.hpp"

namespace truman {
namespace {

ErrorKind kind_for(int err) {
    switch (err) {
        case EEXIST:
            return ErrorKind::conflict;
        case ENOENT:
            return ErrorKind::not_found;
        default:
            return ErrorKind::system;
    }
}

// Make `dir` a shared mount point once, so that unmounting <dir>/<name> in any mount namespace
// that inherited it propagates back here and the namespace can really be freed. Like iproute2
// we hold flock on the directory: concurrent creators each bind-mounting the directory onto
// itself would stack mounts recursively (iproute2 has seen boot-time lockups from that).
void ensure_shared_netns_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw make_error(ErrorKind::system, "mkdir " + dir, ec.value());
    Fd lock(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (lock.get() < 0) throw system_error("open " + dir);
    if (::flock(lock.get(), LOCK_EX) < 0) throw system_error("flock " + dir);
    bool made_mount_point = false;
    // MS_SHARED on a directory that is not a mount point fails with EINVAL: bind it onto
    // itself first, then retry.
    while (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) < 0) {
        if (errno != EINVAL || made_mount_point) throw system_error("mount --make-shared " + dir);
        if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) < 0)
            throw system_error("mount --bind " + dir + " onto itself");
        made_mount_point = true;
    }
}

// unshare(CLONE_NEWNET) in a short-lived thread: a namespace change applies to the calling
// thread only, so the caller's own network namespace is never touched and there is nothing to
// restore. The new namespace survives the thread because of the bind mount. Returns 0 or errno.
int bind_fresh_netns_onto(const std::string& path, std::string& failed_step) {
    int err = 0;
    std::thread worker([&] {
        if (::unshare(CLONE_NEWNET) < 0) {
            err = errno;
            failed_step = "unshare(CLONE_NEWNET)";
            return;
        }
        if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) {
            err = errno;
            failed_step = "mount --bind /proc/thread-self/ns/net " + path;
        }
    });
    worker.join();
    return err;
}

}  // namespace

void validate_netns_name(const std::string& name, const std::string& field) {
    // iproute2 refuses the same names: they would escape or alias the directory.
    if (name.empty()) throw invalid_argument(field, "must not be empty");
    if (name == "." || name == "..") throw invalid_argument(field, "must not be . or ..");
    if (name.find('/') != std::string::npos) throw invalid_argument(field, "must not contain /");
    if (name.size() > 255) throw invalid_argument(field, "longer than 255 characters");
}

void create_named_netns(const std::string& name, const std::string& dir) {
    validate_netns_name(name, "netns name");
    ensure_shared_netns_dir(dir);
    const std::string path = dir + "/" + name;
    // O_EXCL makes the name check and the claim one step: a second creator gets EEXIST.
    int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        throw make_error(kind_for(err), "create netns file " + path, err);
    }
    ::close(fd);
    std::string step;
    if (int err = bind_fresh_netns_onto(path, step); err != 0) {
        ::unlink(path.c_str());
        throw make_error(ErrorKind::system, step, err);
    }
}

void delete_named_netns(const std::string& name, const std::string& dir) {
    validate_netns_name(name, "netns name");
    const std::string path = dir + "/" + name;
    // MNT_DETACH: processes still inside the namespace keep it alive; the name goes now. A
    // failing umount (not mounted, e.g. a half-made entry) is fine: the unlink says whether
    // there was anything to delete.
    ::umount2(path.c_str(), MNT_DETACH);
    if (::unlink(path.c_str()) < 0) {
        int err = errno;
        throw make_error(kind_for(err), "remove netns " + path, err);
    }
}

bool named_netns_exists(const std::string& name, const std::string& dir) {
    validate_netns_name(name, "netns name");
    struct stat st {};
    return ::stat((dir + "/" + name).c_str(), &st) == 0;
}

}  // namespace truman
