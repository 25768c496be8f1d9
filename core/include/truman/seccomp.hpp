// Seccomp through libseccomp: profiles are compiled to BPF in the parent; the child only loads
// the flat program. Denials are recorded: ERRNO actions are compiled as SCMP_ACT_NOTIFY and a
// SeccompNotifier (owned by the container's monitor) answers each with the profile's errno and
// records the call.
//
// Learning mode (Linux.seccomp_learn)
// -----------------------------------
// The same profile is enforced, and every syscall it allows unconditionally is compiled as
// SCMP_ACT_NOTIFY too: the listener answers those with SECCOMP_USER_NOTIF_FLAG_CONTINUE (the
// kernel then runs the call as if allowed) and reports each (arch, syscall) once. The verdict
// is taken from the syscall number alone, which the kernel has already routed: a number the
// profile allows unconditionally has no other path through the filter, so CONTINUE cannot
// loosen anything, and no argument (nor memory behind one) is looked at in user space. Rules
// with argument conditions (clone flags, socket families, personality) stay kernel verdicts:
// their allowed calls are not observed, their refused ones are denials as always. So are the
// calls made between loading the filter and execve (detail::kSyscallsAfterSeccomp).
// learned_seccomp_profile() turns what was seen into a profile and adds both of those back.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

struct SeccompProgram {
    std::vector<sock_filter> filter;   // what the child passes to seccomp(SECCOMP_SET_MODE_FILTER)
    bool needs_listener = false;       // load with SECCOMP_FILTER_FLAG_NEW_LISTENER
    std::map<int, int> notify_errno;   // syscall nr -> errno to answer (for NOTIFY'd denials)
    int default_notify_errno = EPERM;  // for syscalls not in notify_errno
    // Learning mode: the native numbers (or libseccomp's pseudo numbers) of the syscalls the
    // listener lets through with SECCOMP_USER_NOTIF_FLAG_CONTINUE and reports as seen.
    std::set<int> learn_nrs;
};

// The address families the default profile lets socket() create, in ascending order:
// AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET. Every other one gets EAFNOSUPPORT.
inline constexpr uint64_t kAllowedSocketFamilies[] = {1, 2, 10, 16, 17};

// Docker-like default profile (allow-list, EPERM otherwise; clone3 -> ENOSYS; namespace
// clone flags denied; socket() only for kAllowedSocketFamilies; socketcall -> ENOSYS).
Seccomp default_seccomp_profile();

// The rules of linux.seccomp for validate() (core/src/seccomp_rules.cpp): known actions (not
// SCMP_ACT_NOTIFY: the monitor owns the listener), errnoRet only with ERRNO or TRACE, known
// architectures and syscall names, argument index 0..5, known operators, and no profile when
// truman.seccompDisabled. Throws truman::Error (invalid, unsupported) naming the OCI field.
void validate_seccomp(const Linux& linux);

// Compile a profile (validated: unknown syscall, action, arch or operator -> Error invalid),
// in learning mode when learn (a profile whose default action is not SCMP_ACT_ERRNO cannot be
// learned: Error unsupported).
SeccompProgram compile_seccomp(const Seccomp& profile, bool learn = false);

// compile_seccomp() with a cache: libseccomp takes milliseconds to compile the default profile,
// which would dominate a container's start. Programs are remembered in this process and, when
// cache_dir is not empty, in files there (written atomically; keyed by the profile, the
// libseccomp version and the architecture), so that each short-lived monitor process loads the
// program instead of compiling it.
SeccompProgram cached_seccomp(const Seccomp& profile, const std::string& cache_dir = "",
                              bool learn = false);

// The smallest allowlist for a workload that learning mode saw make the calls named in seen
// under base: base's default action and architectures; one SCMP_ACT_ALLOW rule naming the calls
// seen plus the ones the runtime makes after loading the filter (never observed), each only if
// base allows it unconditionally; then every other rule of base as it stands (argument rules,
// errno rules), so that it is never looser than base.
Seccomp learned_seccomp_profile(const Seccomp& base, const std::set<std::string>& seen);

struct BlockedSyscall {
    pid_t pid = 0;     // the caller's thread id in the listener's (the monitor's) PID namespace
    pid_t ns_pid = 0;  // the same thread as the container sees it (0 if /proc could not say)
    std::string comm;  // /proc/<pid>/comm, read while the caller waits for the answer
    int nr = 0;
    std::string name;  // "mount", or "syscall_<nr>" if libseccomp does not know it
    std::string arch;  // libseccomp's name of the caller's architecture: "x86_64", "x86", "x32"
    std::array<uint64_t, 6> args{};
    int error = 0;  // the errno it was answered with
    // Learning mode: not blocked but let through (CONTINUE), reported the first time this
    // notifier saw its (arch, syscall); pid, comm and error are not filled in.
    bool learned = false;
    std::chrono::system_clock::time_point when;
};

// libseccomp's name of an audit architecture ("x86_64"), "arch_0x<hex>" for one it does not
// know.
std::string seccomp_arch_name(uint32_t audit_arch);

// Answers notifications on a seccomp listener fd. Not thread-safe; one per container.
class SeccompNotifier {
  public:
    SeccompNotifier(int listener_fd, SeccompProgram program);  // takes ownership of the fd
    ~SeccompNotifier();
    SeccompNotifier(const SeccompNotifier&) = delete;
    SeccompNotifier& operator=(const SeccompNotifier&) = delete;

    int fd() const noexcept { return fd_; }
    // Receive one notification (call when fd() is readable), answer it with the errno from
    // the program, and return what was blocked. nullopt if the target died in between. In
    // learning mode, a call the program allows is let through and returned (learned) once.
    std::optional<BlockedSyscall> handle_one();

  private:
    void let_through(uint64_t id);  // answer SECCOMP_USER_NOTIF_FLAG_CONTINUE

    int fd_;
    SeccompProgram program_;
    std::set<std::pair<uint32_t, int>> continued_;  // (audit arch, nr) let through before
};

}  // namespace truman
