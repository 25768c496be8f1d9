// Capability and rlimit plans: names to numbers and masks, and the errors that name the field.
#include "truman/capabilities.hpp"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/resource.h>

#include <functional>
#include <string>

#include "truman/error.hpp"
#include "truman/rlimits.hpp"

namespace truman {
namespace {

void expect_error(const std::function<void()>& f, ErrorKind kind, const std::string& field,
                  const std::string& detail = "") {
    try {
        f();
        ADD_FAILURE() << "no error; expected one naming " << field;
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind(field + ": ", 0), 0u) << e.what();
        EXPECT_NE(std::string(e.what()).find(detail), std::string::npos) << e.what();
    }
}

constexpr uint64_t bit(int cap) {
    return uint64_t{1} << cap;
}

TEST(Capabilities, NamesMapToKernelNumbers) {
    EXPECT_EQ(capability_from_name("CAP_CHOWN"), 0);
    EXPECT_EQ(capability_from_name("CAP_NET_ADMIN"), 12);
    EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), 21);
    EXPECT_EQ(capability_from_name("CAP_AUDIT_WRITE"), 29);
    EXPECT_EQ(capability_name(12), "CAP_NET_ADMIN");
    EXPECT_EQ(capability_name(0), "CAP_CHOWN");
    for (int cap = 0; cap <= last_capability(); ++cap)
        EXPECT_EQ(capability_from_name(capability_name(cap)), cap) << capability_name(cap);
}

TEST(Capabilities, OnlyOciSpellingIsAccepted) {
    for (const char* name :
         {"cap_net_admin", "NET_ADMIN", "net_admin", "12", "CAP_", "CAP_FOO", "Cap_Net_Admin", ""})
        expect_error([&] { capability_from_name(name); }, ErrorKind::invalid, "capability",
                     "unknown capability");
}

TEST(Capabilities, LastCapabilityMatchesTheKernel) {
    // CAP_AUDIT_READ (37) is in every kernel this runs on; capabilities are < 64.
    EXPECT_GE(last_capability(), 37);
    EXPECT_LT(last_capability(), 64);
}

TEST(Capabilities, DefaultIsDockersFourteen) {
    EXPECT_EQ(default_capabilities().size(), 14u);
    uint64_t expected = bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_FSETID) | bit(CAP_FOWNER) |
                        bit(CAP_MKNOD) | bit(CAP_NET_RAW) | bit(CAP_SETGID) | bit(CAP_SETUID) |
                        bit(CAP_SETFCAP) | bit(CAP_SETPCAP) | bit(CAP_NET_BIND_SERVICE) |
                        bit(CAP_SYS_CHROOT) | bit(CAP_KILL) | bit(CAP_AUDIT_WRITE);
    EXPECT_EQ(expected, 0x00000000a80425fbULL);

    CapabilityMasks masks = capability_masks(std::nullopt);
    EXPECT_EQ(masks.bounding, 0x00000000a80425fbULL);
    EXPECT_EQ(masks.effective, 0x00000000a80425fbULL);
    EXPECT_EQ(masks.permitted, 0x00000000a80425fbULL);
    EXPECT_EQ(masks.inheritable, 0u);
    EXPECT_EQ(masks.ambient, 0u);
}

TEST(Capabilities, SpecSetsBecomeMasks) {
    Capabilities caps;
    caps.bounding = {"CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL"};
    caps.permitted = {"CAP_NET_ADMIN", "CAP_KILL"};
    caps.effective = {"CAP_NET_ADMIN"};
    caps.inheritable = {"CAP_NET_ADMIN", "CAP_SYS_ADMIN"};
    caps.ambient = {"CAP_NET_ADMIN"};
    CapabilityMasks masks = capability_masks(caps);
    EXPECT_EQ(masks.bounding, bit(12) | bit(21) | bit(5));
    EXPECT_EQ(masks.permitted, bit(12) | bit(5));
    EXPECT_EQ(masks.effective, bit(12));
    EXPECT_EQ(masks.inheritable, bit(12) | bit(21));
    EXPECT_EQ(masks.ambient, bit(12));

    CapabilityMasks none = capability_masks(Capabilities{});
    EXPECT_EQ(none.bounding | none.effective | none.permitted | none.inheritable | none.ambient,
              0u);
}

TEST(Capabilities, AmbientMustBePermittedAndInheritable) {
    Capabilities caps;
    caps.permitted = {"CAP_NET_ADMIN"};
    caps.ambient = {"CAP_NET_ADMIN"};  // not inheritable
    expect_error([&] { capability_masks(caps); }, ErrorKind::invalid,
                 "process.capabilities.ambient", "CAP_NET_ADMIN");
    caps.permitted = {};
    caps.inheritable = {"CAP_NET_ADMIN"};  // inheritable but not permitted
    expect_error([&] { capability_masks(caps); }, ErrorKind::invalid,
                 "process.capabilities.ambient", "CAP_NET_ADMIN");
}

TEST(Capabilities, EffectiveMustBePermitted) {
    Capabilities caps;
    caps.permitted = {"CAP_KILL"};
    caps.effective = {"CAP_KILL", "CAP_SYS_ADMIN"};
    expect_error([&] { capability_masks(caps); }, ErrorKind::invalid,
                 "process.capabilities.effective", "CAP_SYS_ADMIN");
}

TEST(Capabilities, UnknownCapabilityNamesItsField) {
    Capabilities caps;
    caps.bounding = {"CAP_KILL", "CAP_FLY"};
    expect_error([&] { capability_masks(caps); }, ErrorKind::invalid,
                 "process.capabilities.bounding[1]", "unknown capability \"CAP_FLY\"");
    caps.bounding = {};
    caps.inheritable = {"cap_kill"};
    expect_error([&] { capability_masks(caps); }, ErrorKind::invalid,
                 "process.capabilities.inheritable[0]", "cap_kill");
}

TEST(Capabilities, CapabilityBeyondTheKernelIsUnsupported) {
    // libcap may know names this kernel does not; only then can this case be produced.
    if (last_capability() >= 40) {
        EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
        return;
    }
    expect_error([] { capability_from_name("CAP_CHECKPOINT_RESTORE"); }, ErrorKind::unsupported,
                 "capability", "not supported by this kernel");
}

TEST(Rlimits, AllNamesResolve) {
    const std::pair<const char*, int> names[] = {
        {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
        {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    };
    for (const auto& [name, resource] : names) EXPECT_EQ(rlimit_from_name(name), resource) << name;
    EXPECT_EQ(rlimit_from_name("RLIMIT_NOFILE"), 7);
    for (const char* bad : {"NOFILE", "rlimit_nofile", "RLIMIT_FOO", ""})
        expect_error([&] { rlimit_from_name(bad); }, ErrorKind::invalid, "rlimit",
                     "unknown rlimit type");
}

TEST(Rlimits, PlanKeepsOrderAndValues) {
    std::vector<RlimitValue> plan = rlimit_plan(
        {{"RLIMIT_NOFILE", 4096, 1024}, {"RLIMIT_CORE", RLIM_INFINITY, 0}, {"RLIMIT_NPROC", 5, 5}});
    ASSERT_EQ(plan.size(), 3u);
    EXPECT_EQ(plan[0].resource, RLIMIT_NOFILE);
    EXPECT_EQ(plan[0].value.rlim_cur, 1024u);
    EXPECT_EQ(plan[0].value.rlim_max, 4096u);
    EXPECT_EQ(plan[1].resource, RLIMIT_CORE);
    EXPECT_EQ(plan[1].value.rlim_max, RLIM_INFINITY);
    EXPECT_EQ(plan[2].value.rlim_cur, 5u);
    EXPECT_TRUE(rlimit_plan({}).empty());
}

TEST(Rlimits, ErrorsNameTheEntry) {
    expect_error(
        [] {
            rlimit_plan({{"RLIMIT_NOFILE", 10, 10}, {"RLIMIT_CPU", 1, 2}});
        },
        ErrorKind::invalid, "process.rlimits[1].soft", "soft limit 2 exceeds hard limit 1");
    expect_error(
        [] {
            rlimit_plan({{"RLIMIT_NOFILE", 10, 10}, {"RLIMIT_NOFILE", 20, 20}});
        },
        ErrorKind::invalid, "process.rlimits[1].type", "duplicate RLIMIT_NOFILE");
    expect_error(
        [] {
            rlimit_plan({{"RLIMIT_NOFILE", 10, 10}, {"RLIMIT_BOGUS", 1, 1}});
        },
        ErrorKind::invalid, "process.rlimits[1].type", "unknown rlimit type");
}

}  // namespace
}  // namespace truman
