// Internal to core: the seccomp rules' name lookups, through libseccomp's own tables, for
// validate_seccomp() and for compile_seccomp() (which today still has copies of these two in
// seccomp.cpp, to be replaced by calls here).
#pragma once

#include <cstdint>
#include <string>

namespace truman {

// "SCMP_ARCH_X86_64" -> libseccomp's token. Throws truman::Error (invalid) naming field.
uint32_t seccomp_architecture_token(const std::string& name, const std::string& field);

// "read" -> the native syscall number. Throws truman::Error (invalid) naming field.
int seccomp_syscall_number(const std::string& name, const std::string& field);

}  // namespace truman
