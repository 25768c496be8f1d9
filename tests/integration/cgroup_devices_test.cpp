// The device allow-list on the real kernel: the host mode's (devices.allow on v1, the BPF
// program on v2), and the v2 BPF program on the host's cgroup2 mount whatever the host's
// mode (on a hybrid host /sys/fs/cgroup/unified: the default hierarchy, so the kernel runs
// device programs attached there even though it has no controllers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "cgroup_test_fixture.hpp"
#include "test_support.hpp"
#include "truman/cgroups.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using truman::CgroupMode;
using truman::ContainerSpec;
using truman::Error;
using truman::ErrorKind;
using namespace truman::test;

namespace {

// Device nodes a container must not reach, made by the test in a temp dir (so /dev's own
// permissions play no part):
// - disk: the block device holding "/". This host's sandbox already denies it to everyone,
//   so it alone proves nothing;
// - loop: /dev/loop0's numbers (b 7:0), which the host lets root open: a denial of it inside
//   the cgroup can only come from our allow-list.
struct ForbiddenNodes {
    truman::test::TempDir tmp;
    std::string disk, loop, mknod_target;
    dev_t disk_dev = 0;

    ForbiddenNodes() {
        struct stat st {};
        if (::stat("/", &st) != 0) throw std::runtime_error("stat /");
        disk_dev = st.st_dev;
        disk = make(tmp.path() + "/disk", disk_dev);
        loop = make(tmp.path() + "/loop", makedev(7, 0));
        mknod_target = tmp.path() + "/disk-again";
    }
    static std::string make(const std::string& node, dev_t dev) {
        if (::mknod(node.c_str(), S_IFBLK | 0600, dev) != 0)
            throw std::runtime_error("mknod " + node + ": " + strerror(errno));
        return node;
    }
};

int open_errno(const char* path) {
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
}

// In the child: report the errno (0 on success) of opening the disk, the loop device and
// /dev/null, and of mknod'ing the disk again.
int probe_devices(int out, const ForbiddenNodes& nodes) {
    Child::report(out, open_errno(nodes.disk.c_str()));
    Child::report(out, open_errno(nodes.loop.c_str()));
    Child::report(out, open_errno("/dev/null"));
    int rc = ::mknod(nodes.mknod_target.c_str(), S_IFBLK | 0600, nodes.disk_dev);
    Child::report(out, rc < 0 ? errno : 0);
    return 0;
}

void expect_devices_denied(Child& child, const ForbiddenNodes& nodes) {
    EXPECT_EQ(child.next_report(), EPERM)
        << "open of the host disk " << major(nodes.disk_dev) << ":" << minor(nodes.disk_dev);
    EXPECT_EQ(child.next_report(), EPERM) << "open of loop0 (b 7:0)";
    EXPECT_EQ(child.next_report(), 0) << "open of /dev/null";
    EXPECT_EQ(child.next_report(), EPERM) << "mknod of the host disk";
    EXPECT_EQ(child.wait(), 0);
    EXPECT_FALSE(fs::exists(nodes.mknod_target));
}

}  // namespace

// The allow-list of the mode the host has: devices.allow on v1, the BPF program on v2.
TEST_F(CgroupsTest, HostModeDeviceAllowListDeniesTheHostDisk) {
    ForbiddenNodes nodes;
    // Outside the cgroup the loop node opens: a denial below comes from the cgroup.
    ASSERT_EQ(open_errno(nodes.loop.c_str()), 0);

    auto manager = truman::detect_cgroups(kHostCgroupRoot, parent_);
    std::string name = unique_name("dev");
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    Child child([&](int out) { return probe_devices(out, nodes); });
    cg->add_process(child.pid());
    child.release();
    expect_devices_denied(child, nodes);
    cg->destroy();
}

// The cgroup2 mount is the default hierarchy (on a hybrid host too: there it is
// /sys/fs/cgroup/unified, without controllers), so the kernel runs BPF device programs
// attached there: this proves the v2 program for real on any host with cgroup2.
TEST_F(CgroupsTest, V2BpfDeviceFilterOnTheCgroup2MountDeniesTheHostDisk) {
    ForbiddenNodes nodes;
    ASSERT_EQ(open_errno(nodes.loop.c_str()), 0);

    std::string cgroup2 = host_cgroup2_mount();
    auto manager = truman::detect_cgroups(cgroup2, parent_);
    ASSERT_EQ(manager->mode(), CgroupMode::v2);
    std::string name = unique_name("bpf");
    std::string path = cgroup2 + "/" + parent_ + "/" + name;
    CgroupGuard cg{manager->create(name, ContainerSpec{})};
    EXPECT_EQ(cg->path(), path);
    EXPECT_GE(cg->dir_fd(), 0);
    EXPECT_NE(::fcntl(cg->dir_fd(), F_GETFD) & FD_CLOEXEC, 0);

    Child child([&](int out) { return probe_devices(out, nodes); });
    cg->add_process(child.pid());
    EXPECT_TRUE(lists_pid(path, child.pid()));
    child.release();
    expect_devices_denied(child, nodes);

    // A spec rule re-allowing loop0 is honoured (the last matching rule wins).
    ContainerSpec allow_loop;
    truman::DeviceRule loop_rule;
    loop_rule.allow = true;
    loop_rule.type = 'b';
    loop_rule.major = 7;
    loop_rule.minor = 0;
    loop_rule.access = "r";
    allow_loop.linux.resources.devices.push_back(loop_rule);
    std::string allowed = unique_name("bpf");
    CgroupGuard cg2{manager->create(allowed, allow_loop)};
    Child reader([&](int out) {
        Child::report(out, open_errno(nodes.loop.c_str()));
        Child::report(out, open_errno(nodes.disk.c_str()));
        return 0;
    });
    cg2->add_process(reader.pid());
    reader.release();
    EXPECT_EQ(reader.next_report(), 0) << "loop0 allowed by linux.resources.devices";
    EXPECT_EQ(reader.next_report(), EPERM) << "the disk stays denied";
    EXPECT_EQ(reader.wait(), 0);
    cg2->destroy();

    // A memory limit needs the memory controller: where this mount does not offer it (a
    // hybrid host's unified hierarchy), it is unsupported, by field, and nothing is left
    // behind; where it does, the kernel holds the limit.
    ContainerSpec limited;
    limited.linux.resources.memory.limit = 1 << 20;
    std::string other = unique_name("bpf");
    if (offers(cgroup2, "memory")) {
        CgroupGuard cg3{manager->create(other, limited)};
        EXPECT_EQ(trimmed(cg3->path() + "/memory.max"), std::to_string(1 << 20));
        cg3->destroy();
    } else {
        try {
            manager->create(other, limited);
            ADD_FAILURE() << "memory limit accepted without a memory controller";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::unsupported);
            EXPECT_STREQ(e.what(),
                         "linux.resources.memory.limit: the memory controller is not available");
        }
    }
    EXPECT_FALSE(fs::exists(cgroup2 + "/" + parent_ + "/" + other));
    cg->destroy();
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(cgroup2 + "/" + parent_ + "/" + allowed));
}
