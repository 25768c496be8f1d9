// A classic-BPF interpreter for seccomp programs, so tests can ask a compiled filter what it
// answers for a given (arch, syscall, args) -- the program the kernel will run, not the
// profile it was compiled from. Covers every instruction class a seccomp filter may use.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <array>
#include <cstdint>
#include <vector>

namespace truman::test {

// Runs prog on data; returns the filter's SECCOMP_RET_* value. Throws std::runtime_error on
// an instruction seccomp would not accept or a jump out of the program.
uint32_t run_seccomp_bpf(const std::vector<sock_filter>& prog, const seccomp_data& data);

// A seccomp_data for arch (AUDIT_ARCH_*), nr and up to six arguments.
seccomp_data syscall_data(uint32_t arch, int nr, std::array<uint64_t, 6> args = {});

}  // namespace truman::test
