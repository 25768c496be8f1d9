// The host's cgroup hierarchies as /proc/self/mountinfo shows them: what the real-kernel tests
// check truman against, independently of truman's own detection, so that they test the mode
// the host has (pure v2, hybrid, or v1) instead of assuming one.
#pragma once

#include <string>
#include <vector>

#include "truman/cgroups.hpp"

namespace truman::test {

struct CgroupMount {
    std::string path;  // /sys/fs/cgroup/memory, /sys/fs/cgroup/unified, /sys/fs/cgroup
    bool v2 = false;   // a cgroup2 mount (else a v1 hierarchy)
};

// Every cgroup and cgroup2 mount below /sys/fs/cgroup (itself included).
std::vector<CgroupMount> host_cgroup_mounts();
// v2 when /sys/fs/cgroup itself is the cgroup2 mount, else v1 (hybrid or legacy).
CgroupMode host_cgroup_mode();
// The cgroup2 mount: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one.
// Throws std::runtime_error on a legacy host with none (truman's v2 code cannot run there).
std::string host_cgroup2_mount();
// The hierarchies a container cgroup lives in on this host, by their mount: the cgroup2
// mount on a v2 host; on a v1 host the v1 hierarchies truman uses (memory, cpu, cpuacct,
// cpuset, pids, devices, freezer, blkio: not e.g. name=systemd) and the cgroup2 mount if any.
std::vector<std::string> host_container_hierarchies();
// Every existing <mount>/<relative>, in any hierarchy.
std::vector<std::string> host_cgroup_dirs(const std::string& relative);
// Removes <mount>/<parent> in every hierarchy, for a test's per-run parent cgroup. Child
// cgroups still in it are leaks: their processes are SIGKILLed, they are removed, and they
// are returned, with any directory that could not be removed (and why).
std::vector<std::string> remove_cgroup_parent(const std::string& parent);
// A per-run parent is named prefix + the test process's PID: removes (as above) every one of
// a process that no longer runs, left by a test binary that was killed before its TearDown.
void remove_stale_cgroup_parents(const std::string& prefix);

}  // namespace truman::test
