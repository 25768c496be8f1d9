// The cgroup v2 device controller: there is no devices.allow file in v2; access to device
// nodes is decided by a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. We build
// the program by hand from the allow-list, the way crun and runc do, so no compiler or
// libbpf is needed at run time.
#pragma once

#include <linux/bpf.h>

#include <vector>

#include "truman/spec.hpp"

namespace truman::cgroup {

// The program for rules where the last matching rule wins and anything unmatched is denied:
// a 6-instruction prologue loading type/access/major/minor into R2..R5, then one block per
// rule from the last to the first (a jump past it for each field it constrains, then
// "r0 = allow; exit"), then "r0 = 0; exit". A rule matching every device and access ends
// the program early: nothing before it can be reached.
std::vector<bpf_insn> device_filter_program(const std::vector<DeviceRule>& rules);

// Loads the program and attaches it to the cgroup directory fd with BPF_F_ALLOW_MULTI (so
// it composes with programs on ancestors). The cgroup holds the program from then on; it
// goes away with the cgroup. Throws truman::Error naming the syscall and, on a verifier
// rejection, its log.
void attach_device_filter(int cgroup_dir_fd, const std::vector<bpf_insn>& program);

}  // namespace truman::cgroup
