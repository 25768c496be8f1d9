// Cgroups: one small interface, two backends (v2, and v1 for hybrid hosts), picked once at
// start-up by detect_cgroups(). Every path is under an injectable root so the file logic can
// also be tested against a temporary directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

enum class CgroupMode { v2, v1 };  // v1 includes hybrid (v1 controllers + controller-less cgroup2)

const char* to_string(CgroupMode mode) noexcept;  // "v2", "v1"

struct CgroupStats {
    uint64_t memory_current = 0;  // bytes
    uint64_t memory_peak = 0;     // bytes (v1: max_usage_in_bytes)
    uint64_t cpu_usage_usec = 0;
    uint64_t pids_current = 0;
    uint64_t oom_kills = 0;
};

// One container's cgroup (in v1: one directory in every hierarchy truman uses).
class Cgroup {
  public:
    virtual ~Cgroup() = default;
    virtual void add_process(pid_t pid) = 0;  // cgroup.procs
    virtual CgroupStats stats() const = 0;
    virtual bool oom_killed() const = 0;   // the OOM killer killed something in it
    virtual void kill_all() = 0;           // SIGKILL every process in it
    virtual void destroy() = 0;            // rmdir everywhere; idempotent; retries EBUSY
    virtual std::string path() const = 0;  // v2 dir, or the v1 memory (else first) dir
    // v2 only: an O_DIRECTORY fd of the cgroup for clone3(CLONE_INTO_CGROUP); -1 on v1.
    virtual int dir_fd() const { return -1; }
};

class CgroupManager {
  public:
    virtual ~CgroupManager() = default;
    virtual CgroupMode mode() const = 0;
    // Create <parent>/<name> with the spec's limits and a device allow-list made of the
    // default nodes, the spec's devices and its resources.devices rules. Throws
    // truman::Error (unsupported: a limit whose controller is missing; conflict: exists).
    virtual std::unique_ptr<Cgroup> create(const std::string& name, const ContainerSpec& spec) = 0;
    // An existing container's cgroup, for a daemon that restarts; nullptr if it is gone.
    virtual std::unique_ptr<Cgroup> open(const std::string& name) = 0;
};

// Detect the host's mode from what is mounted under root (default /sys/fs/cgroup) and return
// the backend, creating truman's parent cgroup ("truman" by default) where needed.
std::unique_ptr<CgroupManager> detect_cgroups(const std::string& root = "/sys/fs/cgroup",
                                              const std::string& parent = "truman");

}  // namespace truman
