// Seccomp profile compilation without privileges: the program is built and the validation
// errors name their field. Loading and behaviour are proven on the kernel in
// tests/integration/seccomp_kernel_test.cpp.
#include "truman/seccomp.hpp"

#include <errno.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <seccomp.h>

#include <algorithm>
#include <functional>
#include <string>

#include "truman/error.hpp"

namespace truman {
namespace {

int nr(const char* name) {
    return seccomp_syscall_resolve_name(name);
}

// Runs f, which must throw a truman::Error of `kind` whose message starts with "field: " and
// contains `detail`.
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

const SeccompRule* rule_naming(const Seccomp& profile, const std::string& name,
                               const std::string& action) {
    for (const auto& rule : profile.syscalls)
        if (rule.action == action &&
            std::find(rule.names.begin(), rule.names.end(), name) != rule.names.end())
            return &rule;
    return nullptr;
}

Seccomp allow_list(std::vector<std::string> names) {
    Seccomp p;
    p.default_action = "SCMP_ACT_ERRNO";
    p.syscalls.push_back(SeccompRule{std::move(names), "SCMP_ACT_ALLOW", {}, {}});
    return p;
}

TEST(Seccomp, DefaultProfileCompilesToANotifyingProgram) {
    SeccompProgram program = compile_seccomp(default_seccomp_profile());
    EXPECT_GT(program.filter.size(), 50u);
    EXPECT_LE(program.filter.size(), size_t{BPF_MAXINSNS});
    EXPECT_TRUE(program.needs_listener);
    EXPECT_EQ(program.default_notify_errno, EPERM);
    // clone3 is answered by the kernel (ENOSYS), never by the listener.
    EXPECT_EQ(program.notify_errno.count(nr("clone3")), 0u);
    for (const auto& [sys, err] : program.notify_errno) {
        EXPECT_GT(err, 0) << sys;
        EXPECT_LE(err, 4095) << sys;
    }
    // The last instruction returns; every return value is one of the actions we compile.
    EXPECT_EQ(BPF_CLASS(program.filter.back().code), BPF_RET);
}

TEST(Seccomp, DefaultProfileDeniesPrivilegedSyscalls) {
    Seccomp profile = default_seccomp_profile();
    EXPECT_EQ(profile.default_action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(profile.default_errno_ret.value_or(EPERM), static_cast<uint32_t>(EPERM));
    for (const char* name : {"reboot",
                             "mount",
                             "umount2",
                             "ptrace",
                             "kexec_load",
                             "init_module",
                             "finit_module",
                             "delete_module",
                             "swapon",
                             "swapoff",
                             "open_by_handle_at",
                             "bpf",
                             "perf_event_open",
                             "keyctl",
                             "add_key",
                             "request_key",
                             "unshare",
                             "setns",
                             "userfaultfd",
                             "clone3",
                             "io_uring_setup",
                             "pivot_root",
                             "chroot",
                             "fsopen",
                             "move_mount"})
        EXPECT_EQ(rule_naming(profile, name, "SCMP_ACT_ALLOW"), nullptr) << name;

    const SeccompRule* clone3 = rule_naming(profile, "clone3", "SCMP_ACT_ERRNO");
    ASSERT_NE(clone3, nullptr);
    EXPECT_EQ(clone3->errno_ret, static_cast<uint32_t>(ENOSYS));

    const SeccompRule* clone = rule_naming(profile, "clone", "SCMP_ACT_ALLOW");
    ASSERT_NE(clone, nullptr);
    ASSERT_EQ(clone->args.size(), 1u);
    EXPECT_EQ(clone->args[0].index, 0u);
    EXPECT_EQ(clone->args[0].op, "SCMP_CMP_MASKED_EQ");
    EXPECT_EQ(clone->args[0].value, 0x7E020000u);  // the mask: every CLONE_NEW* flag
    EXPECT_EQ(clone->args[0].value_two, 0u);

    EXPECT_EQ(profile.architectures,
              (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
}

TEST(Seccomp, DefaultProfileAllowsWhatTheChildDoesBeforeExec) {
    Seccomp profile = default_seccomp_profile();
    for (const char* name :
         {"read", "write", "close",     "close_range", "execve",    "execveat",    "exit_group",
          "exit", "prctl", "setgroups", "setresgid",   "setresuid", "capset",      "umask",
          "dup2", "dup3",  "fcntl",     "chdir",       "getpid",    "rt_sigreturn"}) {
        const SeccompRule* rule = rule_naming(profile, name, "SCMP_ACT_ALLOW");
        ASSERT_NE(rule, nullptr) << name;
        EXPECT_TRUE(rule->args.empty()) << name;
    }
}

TEST(Seccomp, MaskedEqualUsesValueAsMaskLikeRunc) {
    Seccomp p = allow_list({"read"});
    p.syscalls.push_back(
        SeccompRule{{"clone"}, "SCMP_ACT_ALLOW", {}, {{0, 0x7E020000, 0, "SCMP_CMP_MASKED_EQ"}}});
    SeccompProgram program = compile_seccomp(p);
    // libseccomp emits "A &= mask" then "A == datum": the mask must be OCI's "value".
    bool and_with_mask =
        std::any_of(program.filter.begin(), program.filter.end(), [](const sock_filter& insn) {
            return insn.code == (BPF_ALU | BPF_AND | BPF_K) && insn.k == 0x7E020000u;
        });
    EXPECT_TRUE(and_with_mask);
}

TEST(Seccomp, DenyListAnswersTheRuleErrno) {
    Seccomp p;
    p.default_action = "SCMP_ACT_ALLOW";
    p.syscalls.push_back(SeccompRule{{"uname"}, "SCMP_ACT_ERRNO", ENOSYS, {}});
    SeccompProgram program = compile_seccomp(p);
    EXPECT_TRUE(program.needs_listener);
    ASSERT_EQ(program.notify_errno.count(nr("uname")), 1u);
    EXPECT_EQ(program.notify_errno.at(nr("uname")), ENOSYS);
}

TEST(Seccomp, AllowListWithKillNeedsNoListener) {
    Seccomp p = allow_list({"read", "write", "exit_group"});
    p.default_action = "SCMP_ACT_KILL_PROCESS";
    SeccompProgram program = compile_seccomp(p);
    EXPECT_FALSE(program.needs_listener);
    EXPECT_TRUE(program.notify_errno.empty());
    EXPECT_FALSE(program.filter.empty());
}

TEST(Seccomp, EveryActionCompiles) {
    for (const char* action :
         {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
          "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"}) {
        Seccomp p;
        p.default_action = "SCMP_ACT_ALLOW";
        p.syscalls.push_back(SeccompRule{{"getppid"}, action, {}, {}});
        EXPECT_NO_THROW(compile_seccomp(p)) << action;
        p.default_action = action;
        p.syscalls[0].action = "SCMP_ACT_ALLOW";
        EXPECT_NO_THROW(compile_seccomp(p)) << action;
    }
}

TEST(Seccomp, ConflictingErrnosFallBackToKernelAnswers) {
    Seccomp p = allow_list({"read"});
    p.default_errno_ret = EPERM;
    // Unconditional: the default can no longer be reached for getppid, so it is notified
    // with its own errno.
    p.syscalls.push_back(SeccompRule{{"getppid"}, "SCMP_ACT_ERRNO", 38, {}});
    // Conditional with another errno than the default that remains reachable: kernel-answered.
    p.syscalls.push_back(SeccompRule{{"uname"}, "SCMP_ACT_ERRNO", 22, {{1, 0, 0, "SCMP_CMP_EQ"}}});
    // The same errno as the default: the rule repeats the default action and is folded in.
    p.syscalls.push_back(SeccompRule{{"getuid"}, "SCMP_ACT_ERRNO", EPERM, {}});
    SeccompProgram program = compile_seccomp(p);
    EXPECT_EQ(program.notify_errno.at(nr("getppid")), 38);
    EXPECT_EQ(program.notify_errno.count(nr("uname")), 0u);
    EXPECT_EQ(program.notify_errno.count(nr("getuid")), 0u);
}

TEST(Seccomp, RepeatedArgumentIndexBecomesSeparateRules) {
    Seccomp p = allow_list({"read"});
    p.syscalls.push_back(SeccompRule{{"personality"},
                                     "SCMP_ACT_ALLOW",
                                     {},
                                     {{0, 0, 0, "SCMP_CMP_EQ"}, {0, 8, 0, "SCMP_CMP_EQ"}}});
    EXPECT_NO_THROW(compile_seccomp(p));
}

TEST(Seccomp, EveryOperatorAndArchitectureCompiles) {
    for (const char* op : {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                           "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}) {
        Seccomp p = allow_list({"read"});
        p.syscalls.push_back(SeccompRule{{"uname"}, "SCMP_ACT_ALLOW", {}, {{1, 3, 1, op}}});
        EXPECT_NO_THROW(compile_seccomp(p)) << op;
    }
    Seccomp p = allow_list({"read"});
    p.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"};
    EXPECT_NO_THROW(compile_seccomp(p));
}

TEST(Seccomp, UnknownSyscallNamesItsField) {
    Seccomp p = allow_list({"read"});
    for (int i = 0; i < 3; ++i) p.syscalls.push_back(p.syscalls[0]);
    p.syscalls[3].names = {"foo", "read"};
    expect_error([&] { compile_seccomp(p); }, ErrorKind::invalid,
                 "linux.seccomp.syscalls[3].names[0]", "unknown syscall \"foo\"");
}

TEST(Seccomp, InvalidInputNamesItsField) {
    auto with = [](const std::function<void(Seccomp&)>& change) {
        Seccomp p = allow_list({"read"});
        p.syscalls.push_back(
            SeccompRule{{"uname"}, "SCMP_ACT_ALLOW", {}, {{1, 0, 0, "SCMP_CMP_EQ"}}});
        change(p);
        return [p] { compile_seccomp(p); };
    };
    expect_error(with([](Seccomp& p) { p.default_action = "SCMP_ACT_FOO"; }), ErrorKind::invalid,
                 "linux.seccomp.defaultAction", "unknown action \"SCMP_ACT_FOO\"");
    expect_error(with([](Seccomp& p) { p.syscalls[1].action = "ALLOW"; }), ErrorKind::invalid,
                 "linux.seccomp.syscalls[1].action", "unknown action");
    expect_error(with([](Seccomp& p) { p.syscalls[1].args[0].op = "SCMP_CMP_XX"; }),
                 ErrorKind::invalid, "linux.seccomp.syscalls[1].args[0].op",
                 "unknown operator \"SCMP_CMP_XX\"");
    expect_error(with([](Seccomp& p) { p.syscalls[1].args[0].index = 6; }), ErrorKind::invalid,
                 "linux.seccomp.syscalls[1].args[0].index");
    expect_error(with([](Seccomp& p) {
                     p.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"};
                 }),
                 ErrorKind::invalid, "linux.seccomp.architectures[1]",
                 "unknown architecture \"SCMP_ARCH_Z80\"");
    expect_error(with([](Seccomp& p) { p.architectures = {"x86_64"}; }), ErrorKind::invalid,
                 "linux.seccomp.architectures[0]");
    expect_error(with([](Seccomp& p) { p.syscalls[1].names.clear(); }), ErrorKind::invalid,
                 "linux.seccomp.syscalls[1].names", "must not be empty");
    expect_error(with([](Seccomp& p) { p.syscalls[1].errno_ret = 1; }), ErrorKind::invalid,
                 "linux.seccomp.syscalls[1].errnoRet");
    expect_error(with([](Seccomp& p) { p.default_errno_ret = 70000; }), ErrorKind::invalid,
                 "linux.seccomp.defaultErrnoRet");
    expect_error(with([](Seccomp& p) { p.syscalls[0].action = "SCMP_ACT_NOTIFY"; }),
                 ErrorKind::unsupported, "linux.seccomp.syscalls[0].action");
}

}  // namespace
}  // namespace truman
