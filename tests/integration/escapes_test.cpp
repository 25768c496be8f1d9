// Escapes through paths (issue 16, classes 1 and 2): every path the child uses is resolved
// beneath the container's root when it is used, so a symlink planted in a shared volume, an
// image or a rootfs cannot make truman create a file, directory, tmpfs or device node on the
// host, and the cwd can never be a host directory.
//
// Each attack first runs a container that plants the links in a volume (what a hostile
// container A does), then creates container B on top of it. Whether B's create fails (the
// link leads nowhere inside the root) or succeeds (it leads somewhere inside), the host's
// target directory must stay empty: that is what the old code broke.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "container_helpers.hpp"
#include "host_cgroups.hpp"
#include "test_support.hpp"
#include "truman/cgroups.hpp"
#include "truman/container.hpp"
#include "truman/error.hpp"

using namespace truman;
using namespace truman::test;
namespace fs = std::filesystem;

namespace {

const std::string kParent = "truman-escape-" + std::to_string(getpid());

bool is_cgroup2(const std::string& path) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

// This host's real cgroup2 mount: /sys/fs/cgroup on a pure v2 host, the unified hierarchy on
// a hybrid one like this machine. A host with neither fails the test loudly.
std::string cgroup2_root() {
    if (is_cgroup2("/sys/fs/cgroup")) return "/sys/fs/cgroup";
    if (is_cgroup2("/sys/fs/cgroup/unified")) return "/sys/fs/cgroup/unified";
    return "";
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
    return out;
}

std::string root_disk_numbers(unsigned* major_out, unsigned* minor_out) {
    struct stat st {};
    ::stat("/", &st);
    *major_out = major(st.st_dev);
    *minor_out = minor(st.st_dev);
    return std::to_string(*major_out) + ":" + std::to_string(*minor_out);
}

class Escapes : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        rootfs_ = new TempDir("truman-escape-root");
        make_busybox_rootfs(rootfs_->path());
        fs::copy_file(std::string(TRUMAN_BINARY_DIR) + "/bin/truman-probe",
                      rootfs_->path() + "/bin/probe");
        // A run killed before its TearDownTestSuite left its parent cgroup behind.
        remove_stale_cgroup_parents("truman-escape-");
        cgroups_ = detect_cgroups("/sys/fs/cgroup", kParent).release();
    }
    static void TearDownTestSuite() {
        delete cgroups_;
        for (const auto& leak : remove_cgroup_parent(kParent))
            ADD_FAILURE() << "cgroup left behind: " << leak;
        delete rootfs_;
    }

    ContainerSpec spec(const std::string& script, const std::string& root = "") {
        return default_spec(root.empty() ? rootfs_->path() : root, {"/bin/sh", "-c", script});
    }

    // Container A: plants links in the volume at /data, as a hostile container would.
    void plant(const std::string& volume, const std::string& script) {
        ContainerSpec s = spec(script);
        s.mounts.push_back({"/data", "bind", volume, {"bind"}});
        RunResult r = run_container(s, cgroups_);
        ASSERT_EQ(r.status.exit_code, 0) << r.out;
    }

    // Container B: creates (and runs, if creating worked) on top of the planted links.
    // Returns the create error, or "" if it ran.
    std::string attempt(const ContainerSpec& s) {
        try {
            RunResult r = run_container(s, cgroups_);
            return "";
        } catch (const Error& e) {
            return e.what();
        }
    }

    static TempDir* rootfs_;
    static CgroupManager* cgroups_;
};
TempDir* Escapes::rootfs_ = nullptr;
CgroupManager* Escapes::cgroups_ = nullptr;

struct VolumeCase {
    const char* what;
    std::function<void(ContainerSpec&, const std::string& volume, const std::string& file)> add;
};

}  // namespace

TEST_F(Escapes, SymlinksInAVolumeNeverLeadNestedMountTargetsToTheHost) {
    TempDir host("truman-host-target");  // where the links point, on the host; stays empty
    TempDir volume("truman-volume");
    TempDir source("truman-bind-src");
    std::string file = source.path() + "/file";
    std::ofstream(file) << "x";
    unsigned maj, min;
    root_disk_numbers(&maj, &min);
    // Absolute and relative links, to the host dir and to a path below it that does not
    // exist yet (the old code made it with mkdir/open(O_CREAT)/mknod).
    std::string up = "../../../../../../../../../..";
    plant(volume.path(), "ln -s " + host.path() + " /data/abs && ln -s " + up + host.path() +
                             " /data/rel && ln -s " + host.path() + "/new /data/absnew && ln -s " +
                             up + host.path() + "/new /data/relnew");

    const VolumeCase cases[] = {
        {"directory bind under an absolute link",
         [](ContainerSpec& s, const std::string&, const std::string&) {
             s.mounts.push_back({"/data/abs/d", "bind", "/tmp", {"bind"}});
         }},
        {"directory bind under a relative link",
         [](ContainerSpec& s, const std::string&, const std::string&) {
             s.mounts.push_back({"/data/rel/d", "bind", "/tmp", {"bind"}});
         }},
        {"tmpfs under an absolute link",
         [](ContainerSpec& s, const std::string&, const std::string&) {
             s.mounts.push_back({"/data/abs/t", "tmpfs", "tmpfs", {}});
         }},
        {"tmpfs on a relative link to a missing dir",
         [](ContainerSpec& s, const std::string&, const std::string&) {
             s.mounts.push_back({"/data/relnew", "tmpfs", "tmpfs", {}});
         }},
        {"file bind on a link to a missing file",
         [](ContainerSpec& s, const std::string&, const std::string& f) {
             s.mounts.push_back({"/data/absnew", "bind", f, {"bind"}});
         }},
        {"file bind on a relative link to a missing file",
         [](ContainerSpec& s, const std::string&, const std::string& f) {
             s.mounts.push_back({"/data/relnew", "bind", f, {"bind"}});
         }},
        {"file bind under a link",
         [](ContainerSpec& s, const std::string&, const std::string& f) {
             s.mounts.push_back({"/data/abs/f", "bind", f, {"bind"}});
         }},
    };
    for (const auto& c : cases) {
        ContainerSpec s = spec("true");
        s.mounts.push_back({"/data", "bind", volume.path(), {"bind"}});
        c.add(s, volume.path(), file);
        auto before = snapshot_host();
        std::string error = attempt(s);
        EXPECT_EQ(entries(host.path()), std::vector<std::string>{})
            << c.what << ": truman created something on the host (create said: " << error << ")";
        EXPECT_FALSE(fs::exists(host.path() + "/new")) << c.what;
        EXPECT_EQ(leaks_since(before), "") << c.what;
    }

    // Device nodes under a link: a block node with the root disk's numbers, mode 0644, would
    // let any host user read the raw disk.
    for (const char* dev_path : {"/data/abs/disk", "/data/rel/disk", "/dev/vol/abs/disk"}) {
        ContainerSpec s = spec("true");
        s.mounts.push_back({"/data", "bind", volume.path(), {"bind"}});
        s.mounts.push_back({"/dev/vol", "bind", volume.path(), {"bind"}});
        Device d;
        d.path = dev_path;
        d.type = 'b';
        d.major = maj;
        d.minor = min;
        d.file_mode = 0644;
        s.linux.devices.push_back(d);
        std::string error = attempt(s);
        EXPECT_EQ(entries(host.path()), std::vector<std::string>{})
            << dev_path << ": a device node reached the host (create said: " << error << ")";
    }
    // And the volume itself holds only what container A put there.
    auto in_volume = entries(volume.path());
    std::sort(in_volume.begin(), in_volume.end());
    EXPECT_EQ(in_volume, (std::vector<std::string>{"abs", "absnew", "rel", "relnew"}));
}

TEST_F(Escapes, ALinkThatResolvesInsideTheRootIsFollowedThere) {
    // The same links, but the path they name exists in the container's root too: the mount
    // then lands inside the root, where the container sees it, and still nothing on the host.
    TempDir host("truman-host-target");
    TempDir root("truman-escape-root2");
    make_busybox_rootfs(root.path());
    fs::create_directories(root.path() + host.path());
    TempDir volume("truman-volume");
    plant(volume.path(), "ln -s " + host.path() + " /data/abs");
    ContainerSpec s = spec("grep -c ' " + host.path() + "/t ' /proc/self/mountinfo", root.path());
    s.mounts.push_back({"/data", "bind", volume.path(), {"bind"}});
    s.mounts.push_back({"/data/abs/t", "tmpfs", "tmpfs", {}});
    RunResult r = run_container(s, cgroups_);
    EXPECT_EQ(r.out, "1\n");
    EXPECT_TRUE(fs::is_directory(root.path() + host.path() + "/t"));
    EXPECT_EQ(entries(host.path()), std::vector<std::string>{});
}

TEST_F(Escapes, ImageSymlinksNeverLeadDefaultOrSpecMountsToTheHost) {
    // A hostile image: /mnt and /proc are links to a host directory. Its /proc mount, masked
    // paths and a tmpfs at /mnt/x all resolve inside the root.
    TempDir host("truman-host-target");
    TempDir root("truman-hostile-image");
    make_busybox_rootfs(root.path());
    fs::remove(root.path() + "/mnt");
    fs::create_symlink(host.path(), root.path() + "/mnt");
    fs::create_directories(root.path() + "/elsewhere");
    fs::remove(root.path() + "/proc");
    fs::create_symlink("../../../../.." + host.path(), root.path() + "/proc");
    ContainerSpec s = spec("true", root.path());
    s.mounts.push_back({"/mnt/x", "tmpfs", "tmpfs", {}});
    std::string error = attempt(s);
    EXPECT_EQ(entries(host.path()), std::vector<std::string>{}) << "create said: " << error;
}

TEST_F(Escapes, MagicLinkCwdIsRefusedBeforeAnyProcess) {
    auto before = snapshot_host();
    for (const char* cwd : {"/proc/self/fd/4", "/proc/self/cwd", "/proc/1/root", "/dev/fd/3",
                            "/proc/thread-self/fd/5/.."}) {
        ContainerSpec s = spec("true");
        s.process.cwd = cwd;
        try {
            run_container(s, cgroups_);
            ADD_FAILURE() << cwd << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << cwd;
            EXPECT_EQ(std::string(e.what()).rfind("process.cwd: ", 0), 0u) << e.what();
        }
    }
    EXPECT_EQ(leaks_since(before), "");
}

TEST_F(Escapes, CwdAndDotDotStayInsideTheRoot) {
    TempDir root("truman-escape-cwd");
    make_busybox_rootfs(root.path());
    fs::create_directories(root.path() + "/a/b");
    fs::create_symlink("../../../../../../..", root.path() + "/a/b/up");
    fs::create_symlink("/../../..", root.path() + "/absup");
    fs::copy_file(std::string(TRUMAN_BINARY_DIR) + "/bin/truman-probe", root.path() + "/bin/probe");
    for (const char* cwd : {"/../../..", "/a/b/up", "/absup", "/a/../../../a/b"}) {
        ContainerSpec s = spec("/bin/probe cwd; readlink /proc/self/cwd", root.path());
        s.process.cwd = cwd;
        RunResult r = run_container(s, cgroups_);
        std::string want = std::string(cwd) == "/a/../../../a/b" ? "/a/b" : "/";
        EXPECT_EQ(r.out, "cwd: " + want + "\ncwd: ok\n" + want + "\n") << cwd;
    }
}

TEST_F(Escapes, ACwdLinkThroughAMagicLinkFailsWithAPreciseError) {
    // The image hides the magic link behind an ordinary one, which the spec check cannot see:
    // the child refuses it while resolving (RESOLVE_NO_MAGICLINKS).
    TempDir root("truman-escape-cwdlink");
    make_busybox_rootfs(root.path());
    fs::create_symlink("/proc/self/fd/3", root.path() + "/work");
    fs::create_symlink("/proc/self/cwd", root.path() + "/here");
    fs::create_symlink("/proc/1/root/..", root.path() + "/init");
    auto before = snapshot_host();
    for (const char* cwd : {"/work", "/here", "/init"}) {
        ContainerSpec s = spec("true", root.path());
        s.process.cwd = cwd;
        try {
            run_container(s, cgroups_);
            ADD_FAILURE() << cwd << " was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
            EXPECT_EQ(e.err(), ELOOP) << e.what();
            EXPECT_NE(std::string(e.what()).find("chdir " + std::string(cwd)), std::string::npos)
                << e.what();
        }
    }
    EXPECT_EQ(leaks_since(before), "");
}

// CVE-2024-21626 on this host's real cgroup2 mount: with a v2 manager the parent holds the
// cgroup's directory fd for clone3(CLONE_INTO_CGROUP), and the child inherits a copy. Every
// descriptor number a link could name must lead nowhere, and the container's init sees 0-2 only.
TEST_F(Escapes, NoInheritedDirectoryReachesTheCwdOnCgroupV2) {
    std::string v2 = cgroup2_root();
    ASSERT_NE(v2, "") << "this host has no cgroup2 mount to test on";
    std::string parent = kParent + "-v2";
    std::unique_ptr<CgroupManager> manager = detect_cgroups(v2, parent);
    ASSERT_EQ(manager->mode(), CgroupMode::v2);
    struct RemoveParent {
        std::string path;
        ~RemoveParent() {
            std::error_code ec;
            fs::remove(path, ec);
        }
    } cleanup{v2 + "/" + parent};

    TempDir root("truman-escape-v2");
    make_busybox_rootfs(root.path());
    fs::copy_file(std::string(TRUMAN_BINARY_DIR) + "/bin/truman-probe", root.path() + "/bin/probe");
    for (int fd = 3; fd <= 12; ++fd)
        fs::create_symlink("/proc/self/fd/" + std::to_string(fd),
                           root.path() + "/fd" + std::to_string(fd));
    for (int fd = 3; fd <= 12; ++fd) {
        ContainerSpec s = spec("cd ../../..; ls /", root.path());
        s.process.cwd = "/fd" + std::to_string(fd);
        try {
            RunResult r = run_container(s, manager.get());
            ADD_FAILURE() << "cwd through fd " << fd << " was entered: " << r.out;
        } catch (const Error& e) {
            // ELOOP: the descriptor is open (the sync socket) and the magic link refused;
            // ENOENT: it was already closed, with everything the container must not have.
            EXPECT_TRUE(e.err() == ELOOP || e.err() == ENOENT) << e.what();
            EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
        }
    }
    // A stray descriptor of the caller's (not close-on-exec) is gone too.
    int stray = ::open("/", O_RDONLY | O_DIRECTORY);  // NOLINT: deliberately inheritable
    ASSERT_GE(stray, 0);
    ContainerSpec s = spec("/bin/probe fds; readlink /proc/1/cwd", root.path());
    RunResult r = run_container(s, manager.get());
    ::close(stray);
    EXPECT_EQ(r.out, "fds: EBADF (9)\n/\n");
}
