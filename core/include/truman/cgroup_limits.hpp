// The numbers the kernel's cgroup files accept for CPU bandwidth, in one place: the cgroups
// rules (validate()) check them and trumanctl converts --cpus with them. Header-only, so that
// trumanctl can use it without linking the runtime library.
#pragma once

#include <cstdint>

namespace truman {

// cgroup v1 cpu.cfs_period_us accepts 1 ms .. 1 s, cpu.cfs_quota_us at least 1 ms (or -1 for
// no limit); v2's cpu.max has the same bounds.
constexpr uint64_t kMinCpuPeriodMicros = 1000;
constexpr uint64_t kMaxCpuPeriodMicros = 1000000;
constexpr int64_t kMinCpuQuotaMicros = 1000;

}  // namespace truman
