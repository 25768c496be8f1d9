// The rules of linux.resources (memory, cpu, pids), checked by validate() and again by the
// cgroup backends before they create anything (truman/cgroups.hpp). One meaning for every
// caller, OCI's: -1 is "unlimited" for memory, swap, cpu quota and pids; 0 is refused where
// runtimes disagree on what it means.
#include <string>
#include <string_view>

#include "truman/cgroup_limits.hpp"
#include "truman/cgroups.hpp"
#include "truman/error.hpp"

namespace truman {

namespace {

// "0-3,5": what cpuset.cpus / cpuset.mems accept.
bool is_cpu_list(const std::string& list) {
    if (list.empty()) return true;
    if (list.find_first_not_of("0123456789,-") != std::string::npos) return false;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        std::string_view item(list.data() + start, end - start);
        size_t dash = item.find('-');
        auto number = [](std::string_view s) {
            return !s.empty() && s.find('-') == std::string_view::npos;
        };
        bool ok = dash == std::string_view::npos
                      ? number(item)
                      : number(item.substr(0, dash)) && number(item.substr(dash + 1));
        if (!ok) return false;
        start = end + 1;
    }
    return true;
}

void validate_memory(const Resources::Memory& memory) {
    // 0 would be an immediate OOM kill to the kernel and "no limit" to Docker: refused.
    if (memory.limit && *memory.limit != -1 && *memory.limit <= 0) {
        throw invalid_argument("linux.resources.memory.limit",
                               "must be a positive number of bytes, or -1 for unlimited");
    }
    if (!memory.swap || *memory.swap == -1) return;  // -1: unlimited swap
    if (*memory.swap < 0) {
        throw invalid_argument("linux.resources.memory.swap",
                               "must be a number of bytes, or -1 for unlimited");
    }
    // OCI's swap is memory+swap: it only means something on top of a finite memory limit.
    if (!memory.limit || *memory.limit == -1) {
        throw invalid_argument("linux.resources.memory.swap",
                               "needs a finite linux.resources.memory.limit");
    }
    if (*memory.swap < *memory.limit) {
        throw invalid_argument("linux.resources.memory.swap",
                               "must be at least the memory limit (it is memory+swap), "
                               "or -1 for unlimited");
    }
}

void validate_cpu(const Resources::Cpu& cpu) {
    if (cpu.period && (*cpu.period < kMinCpuPeriodMicros || *cpu.period > kMaxCpuPeriodMicros)) {
        throw invalid_argument("linux.resources.cpu.period",
                               "must be between " + std::to_string(kMinCpuPeriodMicros) + " and " +
                                   std::to_string(kMaxCpuPeriodMicros) + " microseconds");
    }
    if (cpu.quota && *cpu.quota != -1 && *cpu.quota < kMinCpuQuotaMicros) {
        throw invalid_argument("linux.resources.cpu.quota",
                               "must be at least " + std::to_string(kMinCpuQuotaMicros) +
                                   " microseconds, or -1 for unlimited");
    }
    if (cpu.shares && *cpu.shares == 0) {
        throw invalid_argument("linux.resources.cpu.shares", "must be positive");
    }
    if (!is_cpu_list(cpu.cpus)) {
        throw invalid_argument("linux.resources.cpu.cpus", "must be a list like \"0-2,4\"");
    }
    if (!is_cpu_list(cpu.mems)) {
        throw invalid_argument("linux.resources.cpu.mems", "must be a list like \"0-1\"");
    }
}

}  // namespace

void validate_resources(const Resources& r) {
    validate_memory(r.memory);
    validate_cpu(r.cpu);
    // 0 means "unlimited" to some runtimes and "no forks" to the kernel: refused, not guessed.
    if (r.pids.limit && (*r.pids.limit < -1 || *r.pids.limit == 0)) {
        throw invalid_argument("linux.resources.pids.limit",
                               "must be positive, or -1 for unlimited");
    }
}

}  // namespace truman
