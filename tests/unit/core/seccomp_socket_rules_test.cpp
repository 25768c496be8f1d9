// The default profile's socket rules, asked of the compiled BPF program itself (run by the
// interpreter in tests/support/bpf_eval): on every architecture the filter covers, socket()
// creates only the allowlisted families, and the 32-bit socketcall multiplexer cannot carry a
// socket() past that rule. Asking the program, not the profile, is what catches libseccomp's
// own rewriting (on x86 it adds socketcall(SYS_SOCKET) allow rules next to an allowed socket)
// and truman's compiler dropping or rewriting a rule.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/net.h>

#include <algorithm>

#include "bpf_eval.hpp"
#include "truman/seccomp.hpp"

using namespace truman;
using truman::test::run_seccomp_bpf;
using truman::test::syscall_data;

namespace {

constexpr int kX86_64Socket = 41;
constexpr int kX32Bit = 0x40000000;
constexpr int kI386Socket = 359;
constexpr int kI386Socketcall = 102;

const SeccompProgram& program() {
    static const SeccompProgram p = compile_seccomp(default_seccomp_profile());
    return p;
}

uint32_t answer(uint32_t arch, int nr, std::array<uint64_t, 6> args = {}) {
    return run_seccomp_bpf(program().filter, syscall_data(arch, nr, args));
}

bool allowed_family(uint64_t family) {
    return std::find(std::begin(kAllowedSocketFamilies), std::end(kAllowedSocketFamilies),
                     family) != std::end(kAllowedSocketFamilies);
}

constexpr uint32_t errno_answer(int err) {
    return SECCOMP_RET_ERRNO | static_cast<uint32_t>(err);
}

}  // namespace

TEST(SeccompSocketRules, OnlyAllowlistedFamiliesPassOnEveryArchitecture) {
    struct Abi {
        const char* name;
        uint32_t arch;
        int socket_nr;
    };
    for (const Abi& abi : {Abi{"x86_64", AUDIT_ARCH_X86_64, kX86_64Socket},
                           Abi{"x32", AUDIT_ARCH_X86_64, kX32Bit | kX86_64Socket},
                           Abi{"i386", AUDIT_ARCH_I386, kI386Socket}}) {
        for (uint64_t family = 0; family < 64; ++family) {
            uint32_t got = answer(abi.arch, abi.socket_nr, {family, 1, 0});
            if (allowed_family(family))
                EXPECT_EQ(got, SECCOMP_RET_ALLOW) << abi.name << " family " << family;
            else
                EXPECT_EQ(got, errno_answer(EAFNOSUPPORT)) << abi.name << " family " << family;
        }
        EXPECT_EQ(answer(abi.arch, abi.socket_nr, {40}), errno_answer(EAFNOSUPPORT))
            << abi.name << ": AF_VSOCK";
        EXPECT_EQ(answer(abi.arch, abi.socket_nr, {38}), errno_answer(EAFNOSUPPORT))
            << abi.name << ": AF_ALG";
        EXPECT_EQ(answer(abi.arch, abi.socket_nr, {0xffffffffULL}), errno_answer(EAFNOSUPPORT))
            << abi.name;
    }
}

TEST(SeccompSocketRules, HighBitsCannotSmuggleAFamilyPastTheRule) {
    // The kernel reads the family as an int; the filter sees 64 bits. AF_INET with junk in the
    // upper half must not be taken for AF_INET by the allow rule and then allowed blindly.
    uint32_t got = answer(AUDIT_ARCH_X86_64, kX86_64Socket, {(1ULL << 32) | 2});
    EXPECT_NE(got, SECCOMP_RET_ALLOW);
    got = answer(AUDIT_ARCH_X86_64, kX86_64Socket, {(1ULL << 32) | 40});
    EXPECT_NE(got, SECCOMP_RET_ALLOW);
}

TEST(SeccompSocketRules, SocketcallIsEnosysForEveryCallOnI386) {
    // a0 is the multiplexed call (SYS_SOCKET = 1 ... SYS_SENDMMSG = 20), a1 a pointer to its
    // arguments, which seccomp cannot read: so no call of it may pass.
    for (uint64_t call = 0; call <= 21; ++call)
        EXPECT_EQ(answer(AUDIT_ARCH_I386, kI386Socketcall, {call, 0x1000}), errno_answer(ENOSYS))
            << "socketcall(" << call << ")";
    EXPECT_EQ(answer(AUDIT_ARCH_I386, kI386Socketcall, {SYS_SOCKET, 0x1000}), errno_answer(ENOSYS));
}

TEST(SeccompSocketRules, SocketpairAndTheOtherSocketCallsStillWork) {
    EXPECT_EQ(answer(AUDIT_ARCH_X86_64, 53 /* socketpair */, {1, 1, 0, 0x1000}), SECCOMP_RET_ALLOW);
    EXPECT_EQ(answer(AUDIT_ARCH_X86_64, 42 /* connect */, {3, 0x1000, 16}), SECCOMP_RET_ALLOW);
    EXPECT_EQ(answer(AUDIT_ARCH_I386, 362 /* connect */, {3, 0x1000, 16}), SECCOMP_RET_ALLOW);
}

TEST(SeccompSocketRules, UnlistedCallsStillReachTheListener) {
    // The default action is a notification answered with EPERM and recorded: the new rules
    // must not have changed what happens to everything else.
    EXPECT_EQ(answer(AUDIT_ARCH_X86_64, 165 /* mount */), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(answer(AUDIT_ARCH_I386, 21 /* mount */), SECCOMP_RET_USER_NOTIF);
    EXPECT_EQ(answer(AUDIT_ARCH_X86_64, 39 /* getpid */), SECCOMP_RET_ALLOW);
}

TEST(SeccompSocketRules, ForeignArchitecturesAreKilled) {
    EXPECT_EQ(answer(AUDIT_ARCH_AARCH64, 198 /* socket */, {40}), SECCOMP_RET_KILL_THREAD);
}
