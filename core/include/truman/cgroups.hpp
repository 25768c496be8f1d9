// Cgroups: one small interface, two backends (v2, and v1 for hybrid hosts), picked once at
// start-up by detect_cgroups(). Every path is under an injectable root (a test can root a v2
// manager at a hybrid host's /sys/fs/cgroup/unified), and the root must be cgroupfs: the
// backends never create a control file, so a wrong root fails instead of writing limits
// into plain files. (Unit tests drive the file logic against fixture trees through the
// internal cgroup_backends.hpp.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "truman/fd.hpp"
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
    virtual bool oom_killed() const = 0;  // the OOM killer killed something in it
    // SIGKILL every process in it; throws truman::Error (EBUSY) if some are still listed
    // after a bounded wait.
    virtual void kill_all() = 0;
    virtual void destroy() = 0;            // rmdir everywhere; idempotent; retries EBUSY
    virtual std::string path() const = 0;  // v2 dir, or the v1 memory (else first) dir
    // An O_DIRECTORY fd of its cgroup2 directory for clone3(CLONE_INTO_CGROUP): on v2 the
    // cgroup, on a hybrid host its directory in the controller-less "unified" hierarchy;
    // -1 when there is none.
    virtual int dir_fd() const { return -1; }
    // What a new process must join by itself, after clone3 (v1): the "tasks" file of each of
    // its v1 directories, open for writing (close-on-exec). A single-threaded process that
    // writes "0" to each moves itself in, which the kernel does without the global
    // threadgroup lock that a PID written to cgroup.procs takes: that one waits for an RCU
    // grace period, ~5.7 ms here, on every create and exec not close behind another
    // (bench/README.md). Empty when dir_fd() covers everything (v2), or for a test fixture:
    // then, as when dir_fd() is -1 too, the caller uses add_process.
    virtual std::vector<Fd> open_join_files() const { return {}; }
};

// Cgroup::open_join_files of cgroup (nothing for nullptr), and their numbers, which the plan
// of the child that joins points at.
struct JoinFiles {
    std::vector<Fd> files;
    std::vector<int> fds;
};
JoinFiles open_join_files(const Cgroup* cgroup);

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

// The rules of linux.resources' memory, cpu and pids values (core/src/cgroup_rules.cpp),
// asked by validate() and by every backend's create(): -1 means unlimited (OCI), 0 is refused
// where runtimes disagree on it, swap is memory+swap on top of a finite limit. Device rules
// are in truman/devices.hpp. Throws truman::Error (invalid) naming the OCI field.
void validate_resources(const Resources& resources);

// Detect the host's mode from the filesystem types under root (default /sys/fs/cgroup): v2 if
// root is a cgroup2 mount, else v1 with the hierarchies under root that are cgroup mounts
// (the controller-less cgroup2 "unified" one of a hybrid host included). Returns the backend,
// having created truman's parent cgroup ("truman" by default) where needed. Throws
// truman::Error: not_found (no root), unsupported (root is not cgroupfs), invalid (parent).
std::unique_ptr<CgroupManager> detect_cgroups(const std::string& root = "/sys/fs/cgroup",
                                              const std::string& parent = "truman");

}  // namespace truman
