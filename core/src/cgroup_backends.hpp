// Internal to the cgroup code: the helpers the v1 and v2 backends share, and the factories
// detect_cgroups() picks from. Unit tests include this header to drive a backend against a
// fixture tree instead of /sys/fs/cgroup; production code only sees truman/cgroups.hpp, so it
// cannot ask for a fixture.
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

// --- fixture trees (tests only) -------------------------------------------------------------
// cgroupfs does two things by itself that a plain directory does not: mkdir fills a new
// cgroup with its control files, and rmdir takes them away again. A Fixture plays that part,
// so that the backends' file logic can run against a temporary directory pre-populated with
// the control files of a real cgroupfs. Production code never makes one: without it every
// root must carry the cgroup statfs magic, and truman neither creates nor deletes a single
// file, so a misdetected root fails (ENOENT) instead of "succeeding" into plain files.
class Fixture {
  public:
    virtual ~Fixture() = default;
    // After mkdir dir: create the control files cgroupfs would show in it.
    virtual void populate(const std::string& dir) const = 0;
    // Before rmdir dir: remove them.
    virtual void depopulate(const std::string& dir) const = 0;
};

// --- files ---------------------------------------------------------------------------------
// One write() of value to an existing control file: cgroup files parse each write() as one
// command, and a missing file means the kernel lacks the feature (ENOENT). Never creates it.
void write_file(const std::string& path, const std::string& value);
std::optional<std::string> read_file_if_exists(const std::string& path);
bool file_exists(const std::string& path);
// The statfs magic of the filesystem holding path (CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC,
// ...); throws truman::Error (not_found when path does not exist).
long filesystem_magic(const std::string& path);
// First number in the file; 0 when the file is missing or empty ("max" reads as 0).
uint64_t read_u64(const std::string& path);
// The N of a "key N" line (memory.events, cpu.stat, memory.oom_control); 0 when missing.
uint64_t read_keyed_u64(const std::string& path, const std::string& key);
std::vector<pid_t> read_pids(const std::string& procs_path);

// Writes value to dir/file on behalf of a spec field, so a failure names the field:
// "linux.resources.memory.limit: write 1 to .../memory.max: Device or resource busy".
void set_limit(const std::string& field, const std::string& dir, const std::string& file,
               const std::string& value);

// Makes base/relative level by level (mode 0755; existing levels are fine) and returns every
// level below base, top down. relative is a path of plain components.
std::vector<std::string> make_cgroup_dirs(const std::string& base, const std::string& relative,
                                          const Fixture* fixture);
// mkdir of a container's cgroup: conflict if it exists.
void make_cgroup_dir(const std::string& dir, const Fixture* fixture);
// rmdir, retrying EBUSY for up to ~5 s (a task that just died can still be counted). A
// missing directory is fine.
void remove_cgroup_dir(const std::string& dir, const Fixture* fixture);
// For a create() that failed after making dirs: remove them (last first) and rethrow the
// exception being handled, adding to its message any directory that could not be removed
// and why. Call from inside a catch block.
[[noreturn]] void remove_and_rethrow(const std::vector<std::string>& dirs, const Fixture* fixture);
// Waits (bounded) until cgroup.procs is empty; true if it became empty.
bool wait_until_empty(const std::string& procs_path, int timeout_ms);
// SIGKILL whatever cgroup.procs lists until it lists nothing (a task may fork or join while
// we read): for a hierarchy without cgroup.kill or beside the freezer. Throws truman::Error
// (EBUSY) naming the processes that are still there when it gives up.
void kill_until_empty(const std::string& procs_path);
// Throws unless cgroup.procs is empty: the check that ends every kill_all().
void expect_empty(const std::string& procs_path);

// --- names and limits ----------------------------------------------------------------------
// A container's cgroup name is one path component: no '/', not "." or "..", not empty.
void check_name(const std::string& name);
// Throws truman::Error unsupported: "<field>: the <controller> controller is not available",
// followed by " (<why>)" with why's errno when enabling it failed.
[[noreturn]] void controller_missing(const std::string& field, const std::string& controller,
                                     const Error* why = nullptr);

// cgroup v1 cpu.shares [2, 262144] -> cgroup v2 cpu.weight [1, 10000], the formula crun and
// runc use so that a container gets the same share on either host.
uint64_t cpu_weight_from_shares(uint64_t shares);

// --- devices -------------------------------------------------------------------------------
// The default nodes every container may use (null, zero, full, random, urandom, tty, console,
// ptmx, pts/*), then spec.linux.devices (rwm on each node), then
// spec.linux.resources.devices in order. The last matching rule wins; anything unmatched
// is denied. Throws invalid for devices that validate_devices() refuses.
std::vector<DeviceRule> device_rules(const ContainerSpec& spec);
// The v1 devices.allow/devices.deny text of one rule: "c 1:3 rwm", "c 136:* rwm", "a".
// An 'a' rule narrower than "everything" has no v1 spelling, so it becomes a 'c' and a 'b'
// rule; hence a vector.
std::vector<std::string> v1_device_rule_texts(const DeviceRule& rule);

// --- backends ------------------------------------------------------------------------------
struct BackendOptions {
    // Tests only: run against a fixture tree instead of cgroupfs (see Fixture).
    std::shared_ptr<const Fixture> fixture;
    // v2: installs the device allow-list on the cgroup directory fd. Default: build the BPF
    // program and attach it (device_filter.hpp). Unit tests on a fixture record the rules.
    std::function<void(int dir_fd, const std::vector<DeviceRule>& rules)> apply_device_rules;
};

// v2 if root is a cgroup2 mount, v1 otherwise (the v1 backend then accepts only the
// hierarchies under root that are cgroup mounts). With a fixture, a tree whose root holds
// cgroup.controllers is v2. Throws not_found if root does not exist.
CgroupMode detect_mode(const std::string& root, const Fixture* fixture = nullptr);
// detect_cgroups() with backend options.
std::unique_ptr<CgroupManager> detect(const std::string& root, const std::string& parent,
                                      BackendOptions options = {});

std::unique_ptr<CgroupManager> make_cgroup_v1(const std::string& root, const std::string& parent,
                                              BackendOptions options = {});
std::unique_ptr<CgroupManager> make_cgroup_v2(const std::string& root, const std::string& parent,
                                              BackendOptions options = {});

}  // namespace truman::cgroup
