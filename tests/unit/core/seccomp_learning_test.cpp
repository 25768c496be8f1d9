// Learning mode's program, asked through the BPF interpreter (the program the kernel runs),
// and learned_seccomp_profile(): never looser than the profile it was learned under.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/syscall.h>

#include <set>
#include <string>

#include "bpf_eval.hpp"
#include "truman/error.hpp"
#include "truman/seccomp.hpp"

namespace truman {
namespace {

using test::run_seccomp_bpf;
using test::syscall_data;

const SeccompProgram& learning() {
    static const SeccompProgram p = compile_seccomp(default_seccomp_profile(), true);
    return p;
}

uint32_t answer(int nr, std::array<uint64_t, 6> args = {}) {
    return run_seccomp_bpf(learning().filter, syscall_data(AUDIT_ARCH_X86_64, nr, args));
}

TEST(SeccompLearningProgram, AllowedCallsAreNotifiedAndMarkedToBeLetThrough) {
    EXPECT_TRUE(learning().needs_listener);
    EXPECT_EQ(answer(SYS_getppid), SECCOMP_RET_USER_NOTIF);
    EXPECT_TRUE(learning().learn_nrs.count(SYS_getppid));
    EXPECT_TRUE(learning().learn_nrs.count(SYS_mkdir));
}

TEST(SeccompLearningProgram, DeniedCallsStayDeniedAndAreNotLetThrough) {
    // Notified (and so recorded) like without learning, but never in learn_nrs.
    EXPECT_EQ(answer(SYS_mount), SECCOMP_RET_USER_NOTIF);
    EXPECT_FALSE(learning().learn_nrs.count(SYS_mount));
    EXPECT_FALSE(learning().learn_nrs.count(SYS_keyctl));
    EXPECT_EQ(answer(SYS_clone3), SECCOMP_RET_ERRNO | ENOSYS);
}

TEST(SeccompLearningProgram, ArgumentRulesStayKernelVerdicts) {
    EXPECT_FALSE(learning().learn_nrs.count(SYS_clone));
    EXPECT_FALSE(learning().learn_nrs.count(SYS_socket));
    EXPECT_EQ(answer(SYS_clone, {SIGCHLD}), SECCOMP_RET_ALLOW);
    // With a namespace flag: the default's denial (notified, answered EPERM, not let through).
    EXPECT_EQ(answer(SYS_clone, {CLONE_NEWUSER | SIGCHLD}), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(answer(SYS_socket, {2}), SECCOMP_RET_ALLOW);
    EXPECT_EQ(answer(SYS_socket, {40}), SECCOMP_RET_ERRNO | EAFNOSUPPORT);
}

TEST(SeccompLearningProgram, CallsBeforeExecveAreAllowedByTheKernel) {
    // The listener is not with the monitor yet: these must never be notified.
    EXPECT_EQ(answer(SYS_execve), SECCOMP_RET_ALLOW);
    EXPECT_EQ(answer(SYS_close_range), SECCOMP_RET_ALLOW);
    EXPECT_FALSE(learning().learn_nrs.count(SYS_execve));
}

TEST(SeccompLearningProgram, CachedLearningProgramIsNotTheEnforcingOne) {
    SeccompProgram enforcing = cached_seccomp(default_seccomp_profile());
    SeccompProgram learned = cached_seccomp(default_seccomp_profile(), "", true);
    EXPECT_TRUE(enforcing.learn_nrs.empty());
    EXPECT_EQ(learned.learn_nrs, learning().learn_nrs);
}

TEST(SeccompLearningProgram, TheProfileAllowsWhatWasSeenPlusTheRuntimesCallsAndKeepsArgumentRules) {
    Seccomp base = default_seccomp_profile();
    // mount is not allowed by base: seeing it (it cannot be) must not allow it.
    Seccomp p = learned_seccomp_profile(base, {"getppid", "getdents64", "mount"});
    EXPECT_EQ(p.default_action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(p.architectures, base.architectures);
    ASSERT_FALSE(p.syscalls.empty());
    std::set<std::string> names(p.syscalls[0].names.begin(), p.syscalls[0].names.end());
    EXPECT_EQ(p.syscalls[0].action, "SCMP_ACT_ALLOW");
    EXPECT_TRUE(names.count("getppid"));
    EXPECT_TRUE(names.count("getdents64"));
    EXPECT_TRUE(names.count("execve"));
    EXPECT_TRUE(names.count("close_range"));
    EXPECT_FALSE(names.count("mount"));
    EXPECT_FALSE(names.count("mkdir"));
    // Every other rule of base, in its order.
    size_t others = 0;
    for (const auto& rule : base.syscalls)
        if (!(rule.action == "SCMP_ACT_ALLOW" && rule.args.empty())) {
            EXPECT_EQ(p.syscalls.at(1 + others++), rule);
        }
    EXPECT_EQ(p.syscalls.size(), 1 + others);

    // Compiled: mkdir is denied, getppid allowed, clone's namespace flags still refused.
    SeccompProgram prog = compile_seccomp(p);
    auto run = [&](int nr, std::array<uint64_t, 6> args = {}) {
        return run_seccomp_bpf(prog.filter, syscall_data(AUDIT_ARCH_X86_64, nr, args));
    };
    EXPECT_EQ(run(SYS_getppid), SECCOMP_RET_ALLOW);
    EXPECT_EQ(run(SYS_mkdir), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(run(SYS_clone, {CLONE_NEWNS}), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(run(SYS_clone, {SIGCHLD}), SECCOMP_RET_ALLOW);
}

TEST(SeccompLearningProgram, OnlyAnAllowlistCanBeLearned) {
    Seccomp deny_list;
    deny_list.default_action = "SCMP_ACT_ALLOW";
    deny_list.syscalls.push_back(SeccompRule{{"mount"}, "SCMP_ACT_ERRNO", std::nullopt, {}});
    EXPECT_THROW(compile_seccomp(deny_list, true), Error);
}

}  // namespace
}  // namespace truman
