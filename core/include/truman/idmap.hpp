// User namespace id maps: /proc/<pid>/uid_map, gid_map and setgroups, written by the parent.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

// "0 1000 1\n..." — one line per mapping, as the kernel wants it in one write().
std::string id_map_text(const std::vector<IdMapping>& mappings);

// Write the maps of the user namespace of pid. deny_setgroups writes "deny" to
// /proc/<pid>/setgroups first: the kernel requires it before an unprivileged process (one
// without CAP_SETGID in the parent namespace) may write gid_map. proc is injectable for tests.
void write_id_maps(pid_t pid, const std::vector<IdMapping>& uid_mappings,
                   const std::vector<IdMapping>& gid_mappings, bool deny_setgroups,
                   const std::string& proc = "/proc");

// The kernel's rules for one map (at most 340 lines, no empty or overlapping ranges, nothing
// past the 32-bit id space), checked before the single write() that would otherwise fail
// with a bare EINVAL. Throws truman::Error (invalid) naming field ("linux.uidMappings[1]").
void validate_id_mappings(const std::vector<IdMapping>& maps, const std::string& field);

// Whether the caller must deny setgroups before writing gid_map (no CAP_SETGID in its own
// user namespace, i.e. a rootless caller).
bool must_deny_setgroups();

}  // namespace truman
