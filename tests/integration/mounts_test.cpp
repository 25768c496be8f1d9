// Mount propagation helpers and the container's filesystem, on the real kernel.
#include "truman/mounts.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "container_helpers.hpp"
#include "test_support.hpp"
#include "truman/error.hpp"

using namespace truman;
using namespace truman::test;

namespace {
bool mounted(const std::string& path, const std::string& mountinfo = "/proc/self/mountinfo") {
    std::ifstream in(mountinfo);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        if (point == path) return true;
    }
    return false;
}

std::string root_mount_line(const std::string& mountinfo) {
    std::ifstream in(mountinfo);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point;
        f >> id >> parent >> dev >> root >> point;
        if (point == "/") return line;
    }
    return "";
}

// Runs fn in a forked child with its own mount namespace; returns its exit status.
template <typename Fn>
int in_new_mount_namespace(Fn fn) {
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0) _exit(100);
        _exit(fn());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// A directory bind-mounted on itself and made shared on the host, removed at the end.
struct SharedDir {
    TempDir dir{"truman-prop"};
    SharedDir() {
        set_mount(dir.path(), dir.path(), MS_BIND);
        set_propagation(dir.path(), Propagation::shared, false);
    }
    ~SharedDir() { umount2(dir.path().c_str(), MNT_DETACH); }
    static void set_mount(const std::string& src, const std::string& dst, unsigned long flags) {
        if (mount(src.c_str(), dst.c_str(), nullptr, flags, nullptr) != 0)
            throw std::runtime_error("mount " + dst);
    }
};
}  // namespace

TEST(Mounts, PrivateRootInATestMountNamespace) {
    auto before = snapshot_host();
    SharedDir shared;
    std::string inner = shared.dir.path() + "/inner";
    std::filesystem::create_directory(inner);
    int status = in_new_mount_namespace([&] {
        try {
            set_propagation("/", Propagation::private_, true);
        } catch (...) {
            return 1;
        }
        if (root_mount_line("/proc/self/mountinfo").find("shared:") != std::string::npos) return 2;
        // Mounted under a dir that is shared on the host: private means it stays here.
        if (mount("tmpfs", inner.c_str(), "tmpfs", 0, nullptr) != 0) return 3;
        return 0;
    });
    EXPECT_EQ(status, 0);
    EXPECT_FALSE(mounted(inner)) << "a mount made after / became private reached the host";
    umount2(shared.dir.path().c_str(), MNT_DETACH);
    EXPECT_EQ(leaks_since(before), "");
}

TEST(Mounts, SlaveReceivesHostMountsAndSendsNone) {
    SharedDir shared;
    std::string from_host = shared.dir.path() + "/from-host";
    std::string from_child = shared.dir.path() + "/from-child";
    std::filesystem::create_directory(from_host);
    std::filesystem::create_directory(from_child);
    int ready[2], go[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(go), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0) _exit(100);
        try {
            set_propagation(shared.dir.path(), Propagation::slave, true);
        } catch (...) {
            _exit(101);
        }
        if (mount("tmpfs", from_child.c_str(), "tmpfs", 0, nullptr) != 0) _exit(102);
        char c = 1;
        if (write(ready[1], &c, 1) != 1) _exit(103);
        if (read(go[0], &c, 1) != 1) _exit(104);  // the host has mounted from_host by now
        _exit(mounted(from_host) ? 0 : 105);
    }
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    EXPECT_FALSE(mounted(from_child)) << "the slave's own mount propagated to the host";
    ASSERT_EQ(mount("tmpfs", from_host.c_str(), "tmpfs", 0, nullptr), 0);
    ASSERT_EQ(write(go[1], &c, 1), 1);
    int status;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the slave did not receive the host's mount";
    umount2(from_host.c_str(), MNT_DETACH);
    for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
}

TEST(Mounts, ContainerMountsDoNotReachTheHostAndLeaveNothing) {
    auto before = snapshot_host();
    auto r = run_container(busybox_spec("mount -t tmpfs none /tmp && echo mounted"));
    // The default seccomp profile forbids mount(2): the container cannot mount at all.
    EXPECT_EQ(r.out.find("mounted"), std::string::npos) << r.out;
    EXPECT_EQ(leaks_since(before), "");
}

TEST(Mounts, ContainerGetsProcDevSysAndDevices) {
    auto r = run_container(busybox_spec(
        "for d in null zero full random urandom tty; do test -c /dev/$d || echo missing $d; done;"
        "test -d /dev/pts && test -e /dev/ptmx && test -d /dev/shm && test -d /dev/mqueue || echo "
        "nodev;"
        "grep -q ' /proc proc ' /proc/mounts || echo noproc;"
        "grep ' /sys sysfs ' /proc/mounts | grep -q ro, || echo sys-not-ro;"
        "echo hi > /dev/null && head -c 4 /dev/zero | wc -c"));
    EXPECT_EQ(r.status.exit_code, 0) << r.out;
    EXPECT_EQ(r.out, "4\n");
}

TEST(Mounts, HostTreeIsUnreachableAfterPivot) {
    // A file only the host's root has: after pivot_root and the detach of the old root, no
    // path inside the container leads to it.
    std::string marker = "/truman-host-marker-" + std::to_string(getpid());
    { std::ofstream(marker) << "host"; }
    auto r = run_container(
        busybox_spec("test -e " + marker + " && echo visible; test -e /proc/1/root" + marker +
                     " && echo via-proc;"
                     "awk '$5 ~ /^\\/tmp\\//' /proc/self/mountinfo | wc -l; ls /"));
    std::filesystem::remove(marker);
    EXPECT_EQ(r.out.find("visible"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("via-proc"), std::string::npos) << r.out;
    // No mount of the host's tree (they would show with a /tmp/... mount point) remains.
    EXPECT_EQ(r.out.substr(0, 2), "0\n") << r.out;
    EXPECT_NE(r.out.find("bin"), std::string::npos) << r.out;
}

TEST(Mounts, BindMountsAndReadOnlyRoot) {
    TempDir dir;
    { std::ofstream(dir.path() + "/hello") << "from host\n"; }
    ContainerSpec spec = busybox_spec(
        "cat /data/hello; touch /data/new && echo wrote-data; touch /ro/x 2>/dev/null || echo "
        "ro-ok;"
        "touch /newfile 2>/dev/null || echo root-ro");
    spec.mounts.push_back({"/data", "bind", dir.path(), {"rbind"}});
    spec.mounts.push_back({"/ro", "bind", dir.path(), {"bind", "ro"}});
    spec.root.readonly = true;
    auto r = run_container(spec);
    EXPECT_EQ(r.out, "from host\nwrote-data\nro-ok\nroot-ro\n");
    EXPECT_TRUE(std::filesystem::exists(dir.path() + "/new"));
}

TEST(Mounts, OverlayRootKeepsTheImageUnchanged) {
    auto before = snapshot_host();
    TempDir layer;
    for (auto d : {"upper", "work", "merged"})
        std::filesystem::create_directory(layer.path() + "/" + d);
    ContainerSpec spec = busybox_spec("echo data > /written; cat /written");
    spec.root.path = layer.path() + "/merged";
    spec.root.overlay = Overlay{busybox_rootfs(), layer.path() + "/upper", layer.path() + "/work"};
    auto r = run_container(spec);
    EXPECT_EQ(r.out, "data\n");
    EXPECT_TRUE(std::filesystem::exists(layer.path() + "/upper/written"));
    EXPECT_FALSE(std::filesystem::exists(busybox_rootfs() + "/written"));
    // The overlay lived in the container's mount namespace only.
    EXPECT_FALSE(mounted(layer.path() + "/merged"));
    EXPECT_EQ(leaks_since(before), "");
}

TEST(Mounts, RootfsPropagationOption) {
    ContainerSpec spec = busybox_spec("awk '$5 == \"/\"' /proc/self/mountinfo");
    spec.linux.rootfs_propagation = "rshared";
    auto r = run_container(spec);
    // Shared inside the container, in a peer group of its own: nothing reaches the host.
    EXPECT_NE(r.out.find("shared:"), std::string::npos) << r.out;
}
