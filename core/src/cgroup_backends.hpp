// Internal to the cgroup code: the helpers the v1 and v2 backends share, and the factories
// detect_cgroups() picks from. Unit tests include this header to drive a backend against a
// temporary directory instead of /sys/fs/cgroup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "truman/cgroups.hpp"
#include "truman/error.hpp"
#include "truman/spec.hpp"

namespace truman::cgroup {

// --- files ---------------------------------------------------------------------------------
// One write() of value to path: cgroup files parse each write() as one command. On cgroupfs a
// missing file means the kernel lacks the feature (ENOENT); in a plain directory (a unit
// test's fake root) the file is created so the same code path can be checked.
void write_file(const std::string& path, const std::string& value);
std::optional<std::string> read_file_if_exists(const std::string& path);
bool file_exists(const std::string& path);
bool is_cgroup_fs(const std::string& path);  // cgroup v1 or v2 filesystem
// First number in the file; 0 when the file is missing or empty ("max" reads as 0).
uint64_t read_u64(const std::string& path);
// The N of a "key N" line (memory.events, cpu.stat, memory.oom_control); 0 when missing.
uint64_t read_keyed_u64(const std::string& path, const std::string& key);
std::vector<pid_t> read_pids(const std::string& procs_path);

// Writes value to dir/file on behalf of a spec field, so a failure names the field:
// "linux.resources.memory.limit: write 1 to .../memory.max: Device or resource busy".
void set_limit(const std::string& field, const std::string& dir, const std::string& file,
               const std::string& value);

// mkdir -p with mode 0755 (existing directories are fine).
void make_dirs(const std::string& path);
// rmdir, retrying EBUSY for up to ~5 s (a task that just died can still be listed). A missing
// directory is fine. In a plain directory, control files are unlinked first, which is what
// rmdir on cgroupfs does for us.
void remove_cgroup_dir(const std::string& path);
// Same, never throws: for RAII guards. Returns false if the directory is still there.
bool remove_cgroup_dir_noexcept(const std::string& path) noexcept;
// Waits (bounded) until cgroup.procs is empty; true if it became empty.
bool wait_until_empty(const std::string& procs_path, int timeout_ms);
// SIGKILL whatever cgroup.procs lists until it lists nothing (a task may fork or join while
// we read): for a hierarchy without cgroup.kill or beside the freezer.
void kill_until_empty(const std::string& procs_path);

// --- names and limits ----------------------------------------------------------------------
// A container's cgroup name is one path component: no '/', not "." or "..", not empty.
void check_name(const std::string& name);
// Throws truman::Error unsupported: "<field>: the <controller> controller is not available".
[[noreturn]] void controller_missing(const std::string& field, const std::string& controller);
// Throws invalid on inconsistent memory values (swap without limit, swap < limit, ...).
void check_memory(const Resources::Memory& memory);

// cgroup v1 cpu.shares [2, 262144] -> cgroup v2 cpu.weight [1, 10000], the formula crun and
// runc use so that a container gets the same share on either host.
uint64_t cpu_weight_from_shares(uint64_t shares);

// --- devices -------------------------------------------------------------------------------
// The default nodes every container may use (null, zero, full, random, urandom, tty, console,
// ptmx, pts/*), then spec.linux.devices (rwm on each node), then
// spec.linux.resources.devices in order. The last matching rule wins; anything unmatched
// is denied. Throws invalid on a bad type or access string.
std::vector<DeviceRule> device_rules(const ContainerSpec& spec);
// The v1 devices.allow/devices.deny text of one rule: "c 1:3 rwm", "c 136:* rwm", "a".
// An 'a' rule narrower than "everything" has no v1 spelling, so it becomes a 'c' and a 'b'
// rule; hence a vector.
std::vector<std::string> v1_device_rule_texts(const DeviceRule& rule);

// --- backends ------------------------------------------------------------------------------
// v2 if root is a cgroup2 mount (or, in a fake root, holds cgroup.controllers); else v1.
// Throws not_found if root does not exist.
CgroupMode detect_mode(const std::string& root);

std::unique_ptr<CgroupManager> make_cgroup_v1(const std::string& root, const std::string& parent);

struct CgroupV2Options {
    // Installs the device allow-list on the cgroup directory fd. Default: build the BPF
    // program and attach it (device_filter.hpp). Unit tests on a temp dir record the rules.
    std::function<void(int dir_fd, const std::vector<DeviceRule>& rules)> apply_device_rules;
};
std::unique_ptr<CgroupManager> make_cgroup_v2(const std::string& root, const std::string& parent,
                                              CgroupV2Options options = {});

}  // namespace truman::cgroup
