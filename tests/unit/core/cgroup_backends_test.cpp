// The v1 and v2 backends' file logic against fixture trees (cgroup_fixture.hpp): which
// values land in which files, stats, conflicts, missing controllers and control files, and
// what a create() that fails half-way leaves (nothing, or an error naming it).
#include "cgroup_backends.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "cgroup_fixture.hpp"
#include "test_support.hpp"
#include "truman/cgroups.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using truman::ContainerSpec;
using truman::DeviceRule;
using truman::Error;
using truman::ErrorKind;
using truman::cgroup::BackendOptions;
using namespace truman::test;

TEST(CgroupV2Files, LimitsLandInTheRightFiles) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpuset cpu io memory pids");
    std::vector<DeviceRule> applied;
    auto manager = truman::cgroup::make_cgroup_v2(
        dir.path(), "truman",
        fixture_options(tree, [&](int fd, const std::vector<DeviceRule>& rules) {
            EXPECT_GE(fd, 0);
            applied = rules;
        }));
    // Controllers enabled from the root down to the parent, one "+c" write each (the file
    // keeps the last: pids is the last of truman's controllers).
    EXPECT_EQ(trimmed(dir.path() + "/cgroup.subtree_control"), "+pids");
    EXPECT_EQ(trimmed(dir.path() + "/truman/cgroup.subtree_control"), "+pids");

    auto cg = manager->create("c1", limited_spec());
    std::string c = dir.path() + "/truman/c1";
    EXPECT_EQ(cg->path(), c);
    EXPECT_GE(cg->dir_fd(), 0);
    EXPECT_EQ(trimmed(c + "/memory.max"), std::to_string(64 << 20));
    EXPECT_EQ(trimmed(c + "/memory.swap.max"), std::to_string(32 << 20));  // swap - limit
    EXPECT_EQ(trimmed(c + "/cpu.weight"), "20");
    EXPECT_EQ(trimmed(c + "/cpu.max"), "50000 100000");
    EXPECT_EQ(trimmed(c + "/cpuset.cpus"), "0-1");
    EXPECT_EQ(trimmed(c + "/cpuset.mems"), "0");
    EXPECT_EQ(trimmed(c + "/pids.max"), "max");
    // The default allow-list went to the device-rule installer.
    ASSERT_EQ(applied.size(), 9u);
    EXPECT_EQ(applied.front().major, 1);
    EXPECT_EQ(applied.front().minor, 3);

    cg->add_process(4242);
    EXPECT_EQ(trimmed(c + "/cgroup.procs"), "4242");

    // Stats and OOM come from memory.current / cpu.stat / memory.events.
    put(c + "/memory.current", "4096\n");
    put(c + "/memory.peak", "8192\n");
    put(c + "/cpu.stat", "usage_usec 1234\nuser_usec 1000\n");
    put(c + "/pids.current", "3\n");
    put(c + "/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 2\n");
    auto s = cg->stats();
    EXPECT_EQ(s.memory_current, 4096u);
    EXPECT_EQ(s.memory_peak, 8192u);
    EXPECT_EQ(s.cpu_usage_usec, 1234u);
    EXPECT_EQ(s.pids_current, 3u);
    EXPECT_EQ(s.oom_kills, 2u);
    EXPECT_TRUE(cg->oom_killed());

    // open() finds it; a second create is a conflict; destroy removes it, twice is fine.
    EXPECT_NE(manager->open("c1"), nullptr);
    EXPECT_EQ(kind_of([&] { manager->create("c1", ContainerSpec{}); }), ErrorKind::conflict);
    EXPECT_EQ(trimmed(c + "/memory.max"), std::to_string(64 << 20)) << "conflict touched c1";
    cg->destroy();
    cg->destroy();
    EXPECT_FALSE(fs::exists(c));
    EXPECT_EQ(manager->open("c1"), nullptr);
}

TEST(CgroupV2Files, QuotaWithoutPeriodAndUnlimitedValues) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpu memory pids");
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = -1;
    spec.linux.resources.cpu.quota = 20000;
    spec.linux.resources.pids.limit = 20;
    auto cg = manager->create("c2", spec);
    EXPECT_EQ(trimmed(cg->path() + "/memory.max"), "max");
    EXPECT_EQ(trimmed(cg->path() + "/cpu.max"), "20000 100000");
    EXPECT_EQ(trimmed(cg->path() + "/pids.max"), "20");
    cg->destroy();
}

TEST(CgroupV2Files, MissingControllerIsUnsupportedNamingTheField) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpu memory");  // no pids, no cpuset
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.pids.limit = 10;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c3", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message, "linux.resources.pids.limit: the pids controller is not available");
    EXPECT_FALSE(fs::exists(dir.path() + "/truman/c3"));
}

TEST(CgroupV2Files, ControllerTheRootRefusesKeepsTheReasonAndErrno) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpu memory");
    // A subtree_control that cannot be written at all (a directory: EISDIR, even for root).
    fs::remove(dir.path() + "/cgroup.subtree_control");
    fs::create_directory(dir.path() + "/cgroup.subtree_control");
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.cpu.quota = 10000;
    try {
        manager->create("c", spec);
        ADD_FAILURE() << "a quota was accepted without the cpu controller";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
        EXPECT_EQ(e.err(), EISDIR);
        EXPECT_EQ(std::string(e.what()),
                  "linux.resources.cpu.quota: the cpu controller is not available (open " +
                      dir.path() + "/cgroup.subtree_control: Is a directory)");
    }
    EXPECT_FALSE(fs::exists(dir.path() + "/truman/c"));
}

TEST(CgroupV2Files, MissingControlFileIsUnsupportedAndNeverCreated) {
    // A kernel without swap accounting has the memory controller but no memory.swap.max.
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "memory", {"memory.swap.max"});
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 32 << 20;
    spec.linux.resources.memory.swap = 64 << 20;
    try {
        manager->create("c", spec);
        ADD_FAILURE() << "swap accepted without memory.swap.max";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_EQ(std::string(e.what()), "linux.resources.memory.swap: open " + dir.path() +
                                             "/truman/c/memory.swap.max: No such file or "
                                             "directory");
    }
    EXPECT_FALSE(fs::exists(dir.path() + "/truman/c"));
}

TEST(CgroupV2Files, FailedDeviceSetupRemovesTheDirectory) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "memory");
    auto manager = truman::cgroup::make_cgroup_v2(
        dir.path(), "truman", fixture_options(tree, [](int, auto&) {
            throw truman::system_error("bpf(BPF_PROG_ATTACH)", EPERM);
        }));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 1 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c4", spec); }, &message), ErrorKind::system);
    EXPECT_EQ(message, "bpf(BPF_PROG_ATTACH): Operation not permitted");
    EXPECT_FALSE(fs::exists(dir.path() + "/truman/c4"));
}

TEST(CgroupV2Files, FailedCreateNamesWhatItCouldNotRemove) {
    // A "kernel" whose rmdir leaves the files: the directory stays, and the error says so.
    struct Sticky : truman::cgroup::Fixture {
        std::shared_ptr<CgroupFixtureTree> inner;
        void populate(const std::string& d) const override { inner->populate(d); }
        void depopulate(const std::string&) const override {}
    };
    TempDir dir;
    auto sticky = std::make_shared<Sticky>();
    sticky->inner = CgroupFixtureTree::v2(dir.path(), "memory");
    BackendOptions options = fixture_options(sticky->inner, [](int, auto&) {
        throw truman::system_error("bpf(BPF_PROG_ATTACH)", EPERM);
    });
    options.fixture = sticky;
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", options);
    std::string c = dir.path() + "/truman/c";
    try {
        manager->create("c", ContainerSpec{});
        ADD_FAILURE() << "create succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), EPERM);  // the failure itself, not the cleanup's
        EXPECT_EQ(std::string(e.what()), "bpf(BPF_PROG_ATTACH): Operation not permitted; left " +
                                             c + " behind: rmdir: Directory not empty");
    }
    EXPECT_TRUE(fs::exists(c));
}

TEST(CgroupV2Files, InvalidNamesAndSwapWithoutLimit) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "memory");
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", fixture_options(tree));
    for (std::string bad : {"", ".", "..", "a/b"})
        EXPECT_EQ(kind_of([&] { manager->create(bad, ContainerSpec{}); }), ErrorKind::invalid)
            << bad;
    ContainerSpec spec;
    spec.linux.resources.memory.swap = 1 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c5", spec); }, &message), ErrorKind::invalid);
    EXPECT_NE(message.find("linux.resources.memory.swap"), std::string::npos);
    spec.linux.resources.memory.limit = 2 << 20;  // swap (memory+swap) below limit
    EXPECT_EQ(kind_of([&] { manager->create("c5", spec); }), ErrorKind::invalid);
}

TEST(CgroupV1Files, LimitsLandInTheRightFiles) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1Hierarchies);
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", fixture_options(tree));
    auto cg = manager->create("c1", limited_spec());
    auto in = [&](const std::string& h) { return dir.path() + "/" + h + "/truman/c1"; };
    for (const auto& h : kAllV1Hierarchies) EXPECT_TRUE(fs::is_directory(in(h))) << h;
    EXPECT_EQ(cg->path(), in("memory"));
    EXPECT_EQ(cg->dir_fd(), -1);
    EXPECT_EQ(trimmed(in("memory") + "/memory.limit_in_bytes"), std::to_string(64 << 20));
    EXPECT_EQ(trimmed(in("memory") + "/memory.memsw.limit_in_bytes"), std::to_string(96 << 20));
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.shares"), "512");
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(trimmed(in("cpu") + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.cpus"), "0-1");
    EXPECT_EQ(trimmed(in("cpuset") + "/cpuset.mems"), "0");
    EXPECT_EQ(trimmed(in("pids") + "/pids.max"), "max");
    // "a" to devices.deny first; the last allow write is the last default node (pts).
    EXPECT_EQ(trimmed(in("devices") + "/devices.deny"), "a");
    EXPECT_EQ(trimmed(in("devices") + "/devices.allow"), "c 136:* rwm");

    // add_process writes every hierarchy's cgroup.procs.
    cg->add_process(4242);
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_EQ(trimmed(in(h) + "/cgroup.procs"), "4242") << h;

    put(in("memory") + "/memory.usage_in_bytes", "100\n");
    put(in("memory") + "/memory.max_usage_in_bytes", "200\n");
    put(in("memory") + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    put(in("cpuacct") + "/cpuacct.usage", "5000000\n");
    put(in("pids") + "/pids.current", "7\n");
    auto s = cg->stats();
    EXPECT_EQ(s.memory_current, 100u);
    EXPECT_EQ(s.memory_peak, 200u);
    EXPECT_EQ(s.cpu_usage_usec, 5000u);  // ns -> usec
    EXPECT_EQ(s.pids_current, 7u);
    EXPECT_EQ(s.oom_kills, 1u);
    EXPECT_TRUE(cg->oom_killed());

    EXPECT_EQ(kind_of([&] { manager->create("c1", ContainerSpec{}); }), ErrorKind::conflict);
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_TRUE(fs::is_directory(in(h))) << "conflict removed " << h;
    EXPECT_NE(manager->open("c1"), nullptr);
    cg->destroy();
    cg->destroy();
    for (const auto& h : kAllV1Hierarchies) EXPECT_FALSE(fs::exists(in(h))) << h;
    EXPECT_EQ(manager->open("c1"), nullptr);
}

TEST(CgroupV1Files, SwapWithoutMemswIsUnsupported) {
    TempDir dir;
    auto tree =
        CgroupFixtureTree::v1(dir.path(), kAllV1Hierarchies, {"memory.memsw.limit_in_bytes"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 32 << 20;
    spec.linux.resources.memory.swap = 32 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c2", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message.rfind("linux.resources.memory.swap: ", 0), 0u) << message;
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_FALSE(fs::exists(dir.path() + "/" + h + "/truman/c2"));
}

TEST(CgroupV1Files, MissingControllerIsUnsupportedAndNothingIsLeft) {
    TempDir dir;
    auto tree =
        CgroupFixtureTree::v1(dir.path(), {"memory", "cpu", "cpuacct", "devices", "freezer"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.pids.limit = 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c3", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message, "linux.resources.pids.limit: the pids controller is not available");
    spec = ContainerSpec{};
    spec.linux.resources.cpu.cpus = "0";
    EXPECT_EQ(kind_of([&] { manager->create("c3", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message, "linux.resources.cpu.cpus: the cpuset controller is not available");
    EXPECT_FALSE(fs::exists(dir.path() + "/memory/truman/c3"));
}

TEST(CgroupV1Files, FailureHalfWayRemovesEveryHierarchysDirectory) {
    // No devices.allow: the last step of create fails, after the memory limit was written.
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1Hierarchies, {"devices.allow"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 1 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message.rfind("linux.resources.devices: open ", 0), 0u) << message;
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_FALSE(fs::exists(dir.path() + "/" + h + "/truman/c")) << h;
}

TEST(CgroupV1Files, CombinedCpuCpuacctMountIsOneDirectory) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), {"memory", "cpu,cpuacct", "devices"});
    fs::create_directory_symlink("cpu,cpuacct", dir.path() + "/cpu");
    fs::create_directory_symlink("cpu,cpuacct", dir.path() + "/cpuacct");
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", fixture_options(tree));
    ContainerSpec spec;
    spec.linux.resources.cpu.shares = 256;
    auto cg = manager->create("c4", spec);  // no EEXIST from creating it "twice"
    EXPECT_EQ(trimmed(dir.path() + "/cpu,cpuacct/truman/c4/cpu.shares"), "256");
    cg->add_process(7);
    EXPECT_EQ(trimmed(dir.path() + "/cpu,cpuacct/truman/c4/cgroup.procs"), "7");
    cg->destroy();
    EXPECT_FALSE(fs::exists(dir.path() + "/cpu,cpuacct/truman/c4"));
}
