// Turns a ContainerSpec into the flat list of filesystem operations the child runs before
// pivot_root: the default /proc, /dev (nodes, devpts, shm, mqueue), /sys, the spec's mounts
// and devices, then masked and read-only paths. Built and unit-tested without privileges.
// The plan holds container paths only (relative to the root): the child resolves each one
// beneath the root when it runs the op, never the parent ahead of time (child.hpp).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "child.hpp"
#include "truman/spec.hpp"

namespace truman::detail {

// What mount(2) takes of its data argument: one page (with the terminating NUL).
constexpr size_t kMountDataMax = 4096;

struct MountPlan {
    std::vector<FsOp> ops;
    std::vector<std::string> descriptions;  // per op: "mount proc on /proc" (container paths)
    std::string rootfs;
    std::string overlay_data;  // "lowerdir=...,upperdir=...,workdir=..." or ""
    std::string overlay_cwd;   // where the overlay is mounted from (its layerdir), or ""
    unsigned long root_propagation = 0;

    // Stable storage for the C strings in ops (a deque never moves what it holds).
    std::deque<std::string> strings;
    const char* keep(std::string s);
};

// user_namespace: mknod is not allowed there, so device nodes are bind-mounted from the host.
MountPlan build_mount_plan(const ContainerSpec& spec, bool user_namespace);

// The default masked and read-only paths (Docker's and runc's lists).
const std::vector<std::string>& default_masked_paths();
const std::vector<std::string>& default_readonly_paths();

}  // namespace truman::detail
