// Internal to core: the seccomp profile's vocabulary -- actions, operators, architectures and
// syscall names -- owned once, used by validate_seccomp() and by compile_seccomp().
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <optional>
#include <string>

namespace truman {

// What a profile action means, before compile_seccomp() decides how it is compiled.
struct SeccompAction {
    enum class Kind { allow, errno_ret, kill_thread, kill_process, trap, log, trace } kind;
    uint32_t data = 0;  // errno for errno_ret (EPERM if not given), message for trace
};

// "SCMP_ACT_ERRNO" + errnoRet -> the action. Throws truman::Error (invalid; unsupported for
// SCMP_ACT_NOTIFY) naming field or errno_field.
SeccompAction parse_seccomp_action(const std::string& name,
                                   const std::optional<uint32_t>& errno_ret,
                                   const std::string& field, const std::string& errno_field);

// Learning mode needs an allowlist: default_action SCMP_ACT_ERRNO, or Error unsupported naming
// linux.seccomp.defaultAction.
void require_learnable(const SeccompAction& default_action);

// "SCMP_CMP_EQ" -> SCMP_CMP_EQ. Throws truman::Error (invalid) naming field.
scmp_compare seccomp_operator(const std::string& name, const std::string& field);

// "SCMP_ARCH_X86_64" -> libseccomp's token. Throws truman::Error (invalid) naming field.
uint32_t seccomp_architecture_token(const std::string& name, const std::string& field);

// "read" -> the native syscall number. Throws truman::Error (invalid) naming field.
int seccomp_syscall_number(const std::string& name, const std::string& field);

}  // namespace truman
