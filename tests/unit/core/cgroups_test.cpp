// Cgroup detection and its refusal of anything that is not cgroupfs, the file helpers, the
// shares->weight formula, the device allow-list and its BPF program. The backends' file
// logic against fixture trees is in cgroup_backends_test.cpp.
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
using namespace truman::test;

namespace {

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
    auto manager = truman::cgroup::detect(dir.path(), "truman", fixture_options(tree));
    EXPECT_EQ(manager->mode(), CgroupMode::v2);
    EXPECT_STREQ(truman::to_string(manager->mode()), "v2");
    EXPECT_TRUE(fs::is_directory(dir.path() + "/truman"));
}

TEST(CgroupDetection, PerControllerFixtureIsV1) {
    TempDir dir;
    auto tree = CgroupFixtureTree::v1(dir.path(), kAllV1Hierarchies);
    EXPECT_EQ(truman::cgroup::detect_mode(dir.path(), tree.get()), CgroupMode::v1);
    auto manager = truman::cgroup::detect(dir.path(), "truman", fixture_options(tree));
    EXPECT_EQ(manager->mode(), CgroupMode::v1);
    // The parent exists in every hierarchy, and the v1 cpuset parent got cpus/mems.
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_TRUE(fs::is_directory(dir.path() + "/" + h + "/truman"));
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
    CgroupFixtureTree::v1(v1.path(), kAllV1Hierarchies);
    EXPECT_EQ(kind_of([&] { truman::detect_cgroups(v1.path(), "truman"); }),
              ErrorKind::unsupported);
    for (const auto& h : kAllV1Hierarchies)
        EXPECT_FALSE(fs::exists(v1.path() + "/" + h + "/truman")) << h;
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
        EXPECT_EQ(kind_of([&] { truman::cgroup::detect(dir.path(), bad, fixture_options(tree)); }),
                  ErrorKind::invalid)
            << bad;
    auto nested =
        truman::cgroup::make_cgroup_v2(dir.path(), "truman/nested", fixture_options(tree));
    auto cg = nested->create("c", ContainerSpec{});
    EXPECT_EQ(cg->path(), dir.path() + "/truman/nested/c");
    EXPECT_TRUE(fs::exists(dir.path() + "/truman/nested/cgroup.subtree_control"));
    cg->destroy();
}
