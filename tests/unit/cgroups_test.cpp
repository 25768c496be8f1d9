// Cgroup file logic against fixture trees (cgroup_fixture.hpp): which values land in which
// files, detection and its refusal of anything that is not cgroupfs, the shares->weight
// formula, the device allow-list and its BPF program.
#include "truman/cgroups.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "../../core/src/cgroup_backends.hpp"
#include "../../core/src/device_filter.hpp"
#include "cgroup_fixture.hpp"
#include "test_support.hpp"
#include "truman/error.hpp"

namespace fs = std::filesystem;
using truman::CgroupMode;
using truman::ContainerSpec;
using truman::DeviceRule;
using truman::Error;
using truman::ErrorKind;
using truman::cgroup::BackendOptions;
using truman::test::CgroupFixtureTree;
using truman::test::read_file;
using truman::test::TempDir;

namespace {

void put(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
}

std::string trimmed(const std::string& path) {
    std::string s = read_file(path);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

// Options for a backend on a fixture tree; v2's device rules go to record (or nowhere).
BackendOptions on(std::shared_ptr<CgroupFixtureTree> tree,
                  std::function<void(int, const std::vector<DeviceRule>&)> record = {}) {
    BackendOptions options;
    options.fixture = std::move(tree);
    options.apply_device_rules = record ? std::move(record) : [](int, auto&) {};
    return options;
}

const std::vector<std::string> kAllV1 = {"memory",  "cpu",     "cpuacct", "cpuset", "pids",
                                         "devices", "freezer", "blkio",   "unified"};

ContainerSpec limited_spec() {
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 64 << 20;
    spec.linux.resources.memory.swap = 96 << 20;
    spec.linux.resources.cpu.shares = 512;
    spec.linux.resources.cpu.quota = 50000;
    spec.linux.resources.cpu.period = 100000;
    spec.linux.resources.cpu.cpus = "0-1";
    spec.linux.resources.cpu.mems = "0";
    spec.linux.resources.pids.limit = -1;
    return spec;
}

ErrorKind kind_of(const std::function<void()>& f, std::string* message = nullptr) {
    try {
        f();
    } catch (const Error& e) {
        if (message) *message = e.what();
        return e.kind();
    }
    ADD_FAILURE() << "no truman::Error thrown";
    return ErrorKind::system;
}

DeviceRule rule(bool allow, char type, std::optional<int64_t> major, std::optional<int64_t> minor,
                std::string access = "rwm") {
    DeviceRule r;
    r.allow = allow;
    r.type = type;
    r.major = major;
    r.minor = minor;
    r.access = std::move(access);
    return r;
}

}  // namespace

TEST(CgroupDetection, Cgroup2FixtureIsV2) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpuset cpu io memory pids");
    EXPECT_EQ(truman::cgroup::detect_mode(dir.path(), tree.get()), CgroupMode::v2);
    auto manager = truman::cgroup::detect(dir.path(), "truman", on(tree));
    EXPECT_EQ(manager->mode(), CgroupMode::v2);
    EXPECT_STREQ(truman::to_string(manager->mode()), "v2");
    EXPECT_TRUE(fs::is_directory(dir.path() + "/truman"));
}

TEST(CgroupDetection, PerControllerFixtureIsV1) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1);
    EXPECT_EQ(truman::cgroup::detect_mode(dir.path(), tree.get()), CgroupMode::v1);
    auto manager = truman::cgroup::detect(dir.path(), "truman", on(tree));
    EXPECT_EQ(manager->mode(), CgroupMode::v1);
    // The parent exists in every hierarchy, and the v1 cpuset parent got cpus/mems.
    for (const auto& h : kAllV1) EXPECT_TRUE(fs::is_directory(dir.path() + "/" + h + "/truman"));
    EXPECT_EQ(trimmed(dir.path() + "/cpuset/truman/cpuset.cpus"), "0-3");
    EXPECT_EQ(trimmed(dir.path() + "/cpuset/truman/cpuset.mems"), "0");
}

// Without a fixture, a tree that looks like cgroupfs but is a plain directory is refused, and
// nothing is made in it: limits written there would enforce nothing.
TEST(CgroupDetection, PlainDirectoryIsNotACgroupRoot) {
    TempDir v2;
    CgroupFixtureTree::v2(v2.path(), "cpu memory pids");
    std::string message;
    EXPECT_EQ(kind_of([&] { truman::detect_cgroups(v2.path(), "truman"); }, &message),
              ErrorKind::unsupported);
    EXPECT_NE(message.find("neither a cgroup2 mount"), std::string::npos) << message;
    EXPECT_EQ(kind_of([&] { truman::cgroup::make_cgroup_v2(v2.path(), "truman"); }, &message),
              ErrorKind::unsupported);
    EXPECT_EQ(message, v2.path() + " is not a cgroup2 filesystem");
    EXPECT_FALSE(fs::exists(v2.path() + "/truman"));
    EXPECT_EQ(trimmed(v2.path() + "/cgroup.subtree_control"), "");

    TempDir v1;
    CgroupFixtureTree::v1(v1.path(), kAllV1);
    EXPECT_EQ(kind_of([&] { truman::detect_cgroups(v1.path(), "truman"); }),
              ErrorKind::unsupported);
    for (const auto& h : kAllV1) EXPECT_FALSE(fs::exists(v1.path() + "/" + h + "/truman")) << h;
}

TEST(CgroupDetection, MissingRootIsNotFound) {
    std::string message;
    EXPECT_EQ(kind_of([] { truman::detect_cgroups("/nonexistent/cgroup/root"); }, &message),
              ErrorKind::not_found);
    EXPECT_EQ(message, "cgroup root: statfs /nonexistent/cgroup/root: No such file or directory");
}

TEST(CgroupFiles, WriteNeverCreatesAControlFile) {
    TempDir dir;
    std::string missing = dir.path() + "/memory.max";
    try {
        truman::cgroup::write_file(missing, "1");
        ADD_FAILURE() << "write to a missing control file succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOENT) << e.what();
    }
    EXPECT_FALSE(fs::exists(missing));
}

TEST(CgroupFiles, RemovalWithoutAFixtureNeverDeletesFiles) {
    // rmdir on cgroupfs takes the control files along; on anything else a directory with
    // files in it is not a cgroup, and removing it must fail rather than empty it.
    TempDir dir;
    std::string cg = dir.path() + "/c";
    put(cg + "/memory.max", "max\n");
    try {
        truman::cgroup::remove_cgroup_dir(cg, nullptr);
        ADD_FAILURE() << "a directory with files in it was removed";
    } catch (const Error& e) {
        EXPECT_EQ(e.err(), ENOTEMPTY) << e.what();
        EXPECT_EQ(std::string(e.what()), "rmdir " + cg + ": Directory not empty");
    }
    EXPECT_EQ(trimmed(cg + "/memory.max"), "max");
}

TEST(CgroupShares, WeightFormulaMatchesCrunAndRunc) {
    using truman::cgroup::cpu_weight_from_shares;
    EXPECT_EQ(cpu_weight_from_shares(2), 1u);
    EXPECT_EQ(cpu_weight_from_shares(1024), 39u);  // 1 + 1022*9999/262142
    EXPECT_EQ(cpu_weight_from_shares(512), 20u);
    EXPECT_EQ(cpu_weight_from_shares(262144), 10000u);
    EXPECT_EQ(cpu_weight_from_shares(1), 1u);            // clamped
    EXPECT_EQ(cpu_weight_from_shares(1000000), 10000u);  // clamped
}

TEST(CgroupV2Files, LimitsLandInTheRightFiles) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "cpuset cpu io memory pids");
    std::vector<DeviceRule> applied;
    auto manager = truman::cgroup::make_cgroup_v2(
        dir.path(), "truman", on(tree, [&](int fd, const std::vector<DeviceRule>& rules) {
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
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", on(tree));
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
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", on(tree));
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
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", on(tree));
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
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", on(tree));
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
        dir.path(), "truman",
        on(tree, [](int, auto&) { throw truman::system_error("bpf(BPF_PROG_ATTACH)", EPERM); }));
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
    BackendOptions options = on(sticky->inner, [](int, auto&) {
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
    auto manager = truman::cgroup::make_cgroup_v2(dir.path(), "truman", on(tree));
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
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1);
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", on(tree));
    auto cg = manager->create("c1", limited_spec());
    auto in = [&](const std::string& h) { return dir.path() + "/" + h + "/truman/c1"; };
    for (const auto& h : kAllV1) EXPECT_TRUE(fs::is_directory(in(h))) << h;
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
    for (const auto& h : kAllV1) EXPECT_EQ(trimmed(in(h) + "/cgroup.procs"), "4242") << h;

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
    for (const auto& h : kAllV1) EXPECT_TRUE(fs::is_directory(in(h))) << "conflict removed " << h;
    EXPECT_NE(manager->open("c1"), nullptr);
    cg->destroy();
    cg->destroy();
    for (const auto& h : kAllV1) EXPECT_FALSE(fs::exists(in(h))) << h;
    EXPECT_EQ(manager->open("c1"), nullptr);
}

TEST(CgroupV1Files, SwapWithoutMemswIsUnsupported) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1, {"memory.memsw.limit_in_bytes"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", on(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 32 << 20;
    spec.linux.resources.memory.swap = 32 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c2", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message.rfind("linux.resources.memory.swap: ", 0), 0u) << message;
    for (const auto& h : kAllV1) EXPECT_FALSE(fs::exists(dir.path() + "/" + h + "/truman/c2"));
}

TEST(CgroupV1Files, MissingControllerIsUnsupportedAndNothingIsLeft) {
    TempDir dir;
    auto tree =
        CgroupFixtureTree::v1(dir.path(), {"memory", "cpu", "cpuacct", "devices", "freezer"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", on(tree));
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
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1, {"devices.allow"});
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", on(tree));
    ContainerSpec spec;
    spec.linux.resources.memory.limit = 1 << 20;
    std::string message;
    EXPECT_EQ(kind_of([&] { manager->create("c", spec); }, &message), ErrorKind::unsupported);
    EXPECT_EQ(message.rfind("linux.resources.devices: open ", 0), 0u) << message;
    for (const auto& h : kAllV1) EXPECT_FALSE(fs::exists(dir.path() + "/" + h + "/truman/c")) << h;
}

TEST(CgroupV1Files, CombinedCpuCpuacctMountIsOneDirectory) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), {"memory", "cpu,cpuacct", "devices"});
    fs::create_directory_symlink("cpu,cpuacct", dir.path() + "/cpu");
    fs::create_directory_symlink("cpu,cpuacct", dir.path() + "/cpuacct");
    auto manager = truman::cgroup::make_cgroup_v1(dir.path(), "truman", on(tree));
    ContainerSpec spec;
    spec.linux.resources.cpu.shares = 256;
    auto cg = manager->create("c4", spec);  // no EEXIST from creating it "twice"
    EXPECT_EQ(trimmed(dir.path() + "/cpu,cpuacct/truman/c4/cpu.shares"), "256");
    cg->add_process(7);
    EXPECT_EQ(trimmed(dir.path() + "/cpu,cpuacct/truman/c4/cgroup.procs"), "7");
    cg->destroy();
    EXPECT_FALSE(fs::exists(dir.path() + "/cpu,cpuacct/truman/c4"));
}

TEST(DeviceRules, SpecRulesThenDefaultAllowListThenSpecDevices) {
    // The last matching rule wins: a deny-all in the spec (as `runc spec` writes) must not
    // take the default nodes away, so the spec's rules come first.
    ContainerSpec spec;
    truman::Device fuse;
    fuse.path = "/dev/fuse";
    fuse.type = 'c';
    fuse.major = 10;
    fuse.minor = 229;
    spec.linux.devices.push_back(fuse);
    spec.linux.resources.devices.push_back(rule(false, 'c', 1, 9, "rwm"));
    auto rules = truman::cgroup::device_rules(spec);
    ASSERT_EQ(rules.size(), 11u);
    EXPECT_FALSE(rules[0].allow);
    EXPECT_EQ(rules[0].major, 1);
    const std::vector<std::pair<int, int>> defaults = {{1, 3}, {1, 5}, {1, 7}, {1, 8},   {1, 9},
                                                       {5, 0}, {5, 1}, {5, 2}, {136, -1}};
    for (size_t i = 0; i < defaults.size(); ++i) {
        const auto& r = rules[i + 1];
        EXPECT_TRUE(r.allow);
        EXPECT_EQ(r.type, 'c');
        EXPECT_EQ(r.major, defaults[i].first);
        if (defaults[i].second < 0)
            EXPECT_FALSE(r.minor.has_value());
        else
            EXPECT_EQ(r.minor, defaults[i].second);
        EXPECT_EQ(r.access, "rwm");
    }
    EXPECT_EQ(rules[10].major, 10);
    EXPECT_EQ(rules[10].minor, 229);

    spec.linux.resources.devices[0].access = "rwx";
    std::string message;
    EXPECT_EQ(kind_of([&] { truman::cgroup::device_rules(spec); }, &message), ErrorKind::invalid);
    EXPECT_EQ(message.rfind("linux.resources.devices[0].access: ", 0), 0u) << message;
}

TEST(DeviceRules, V1Text) {
    using truman::cgroup::v1_device_rule_texts;
    using V = std::vector<std::string>;
    EXPECT_EQ(v1_device_rule_texts(rule(true, 'c', 1, 3)), V{"c 1:3 rwm"});
    EXPECT_EQ(v1_device_rule_texts(rule(true, 'c', 136, std::nullopt)), V{"c 136:* rwm"});
    EXPECT_EQ(v1_device_rule_texts(rule(true, 'b', 8, 0, "r")), V{"b 8:0 r"});
    EXPECT_EQ(v1_device_rule_texts(rule(false, 'a', std::nullopt, std::nullopt)), V{"a"});
    EXPECT_EQ(v1_device_rule_texts(rule(true, 'a', std::nullopt, std::nullopt, "m")),
              (V{"c *:* m", "b *:* m"}));
}

namespace {
constexpr size_t kPrologue = 6;
constexpr size_t kDenyTail = 2;
bool is_exit(const bpf_insn& i) {
    return i.code == (BPF_JMP | BPF_EXIT);
}
bool is_return(const bpf_insn& i, int value) {
    return i.code == (BPF_ALU64 | BPF_MOV | BPF_K) && i.dst_reg == BPF_REG_0 && i.imm == value;
}
}  // namespace

TEST(DeviceFilterProgram, EmptyListDeniesEverything) {
    auto prog = truman::cgroup::device_filter_program({});
    ASSERT_EQ(prog.size(), kPrologue + kDenyTail);
    EXPECT_TRUE(is_return(prog[6], 0));
    EXPECT_TRUE(is_exit(prog[7]));
}

TEST(DeviceFilterProgram, OneBlockPerRuleLastRuleFirst) {
    // c 1:3 rwm -> type, major, minor checks (3) + return (2); b 8:* r -> type (1),
    // access (3), major (1) + return (2).
    auto prog = truman::cgroup::device_filter_program(
        {rule(true, 'c', 1, 3), rule(false, 'b', 8, std::nullopt, "r")});
    ASSERT_EQ(prog.size(), kPrologue + 7 + 5 + kDenyTail);
    // The last rule comes first: block starts with the type check for block devices.
    const bpf_insn& type_check = prog[kPrologue];
    EXPECT_EQ(type_check.code, BPF_JMP | BPF_JNE | BPF_K);
    EXPECT_EQ(type_check.dst_reg, BPF_REG_2);
    EXPECT_EQ(type_check.imm, BPF_DEVCG_DEV_BLOCK);
    EXPECT_EQ(type_check.off, 4 + 2);  // skip access(3) + major(1) + return(2)
    EXPECT_EQ(prog[kPrologue + 2].imm, BPF_DEVCG_ACC_READ);  // and r1, READ
    EXPECT_EQ(prog[kPrologue + 3].off, 1 + 2);               // jne r1, r3
    EXPECT_EQ(prog[kPrologue + 4].imm, 8);                   // major
    EXPECT_EQ(prog[kPrologue + 4].off, 2);
    EXPECT_TRUE(is_return(prog[kPrologue + 5], 0));  // a deny rule
    EXPECT_TRUE(is_exit(prog[kPrologue + 6]));
    // Then the first rule: char 1:3, allowed.
    EXPECT_EQ(prog[kPrologue + 7].imm, BPF_DEVCG_DEV_CHAR);
    EXPECT_EQ(prog[kPrologue + 7].off, 2 + 2);
    EXPECT_EQ(prog[kPrologue + 8].imm, 1);
    EXPECT_EQ(prog[kPrologue + 9].imm, 3);
    EXPECT_EQ(prog[kPrologue + 9].off, 2);
    EXPECT_TRUE(is_return(prog[kPrologue + 10], 1));
    EXPECT_TRUE(is_return(prog[prog.size() - 2], 0));
    EXPECT_TRUE(is_exit(prog.back()));
}

TEST(DeviceFilterProgram, WildcardRuleEndsTheProgram) {
    // "allow a *:* rwm" last: everything is allowed; the rules before it are unreachable and
    // there is no default-deny tail.
    auto prog = truman::cgroup::device_filter_program(
        {rule(true, 'c', 1, 3), rule(true, 'a', std::nullopt, std::nullopt)});
    ASSERT_EQ(prog.size(), kPrologue + 2);
    EXPECT_TRUE(is_return(prog[6], 1));
    EXPECT_TRUE(is_exit(prog[7]));
}

TEST(DeviceFilterProgram, DefaultAllowListShape) {
    auto prog = truman::cgroup::device_filter_program(truman::cgroup::device_rules({}));
    // 8 exact nodes (type+major+minor+2) and pts (type+major+2).
    EXPECT_EQ(prog.size(), kPrologue + 8 * 5 + 4 + kDenyTail);
    // pts is the last rule, so it is tested first.
    EXPECT_EQ(prog[kPrologue + 1].imm, 136);
}

TEST(CgroupDetection, ParentMustStayBelowTheRoot) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v2(dir.path(), "memory");
    for (std::string bad : {"", "/abs", "../escape", "a/../b", "a//b"})
        EXPECT_EQ(kind_of([&] { truman::cgroup::detect(dir.path(), bad, on(tree)); }),
                  ErrorKind::invalid)
            << bad;
    auto nested = truman::cgroup::make_cgroup_v2(dir.path(), "truman/nested", on(tree));
    auto cg = nested->create("c", ContainerSpec{});
    EXPECT_EQ(cg->path(), dir.path() + "/truman/nested/c");
    EXPECT_TRUE(fs::exists(dir.path() + "/truman/nested/cgroup.subtree_control"));
    cg->destroy();
}
