// Turns a ContainerSpec into the flat list of filesystem operations the child runs before
// pivot_root: the default /proc, /dev (nodes, devpts, shm, mqueue), /sys, the spec's mounts
// and devices, then masked and read-only paths. Built and unit-tested without privileges.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "child.hpp"
#include "truman/spec.hpp"

namespace truman::detail {

struct MountPlan {
    std::vector<FsOp> ops;
    std::vector<std::string> descriptions;  // per op: "mount proc on /proc" (container paths)
    std::string rootfs;
    std::string overlay_data;  // "lowerdir=...,upperdir=...,workdir=..." or ""
    unsigned long root_propagation = 0;

    // Stable storage for the C strings in ops (a deque never moves what it holds).
    std::deque<std::string> strings;
    const char* keep(std::string s);
};

// Resolve a container path the way the container will see it, following symlinks inside
// `root` but never out of it (an absolute link means root + link; ".." stops at root), like
// runc's securejoin. Returns the path relative to root with a leading '/'. A hostile image's
// `/dev -> /etc` therefore cannot make truman mount or mknod over the host's /etc.
std::string resolve_in_root(const std::string& root, const std::string& path);

// user_namespace: mknod is not allowed there, so device nodes are bind-mounted from the host.
MountPlan build_mount_plan(const ContainerSpec& spec, bool user_namespace);

// The default masked and read-only paths (Docker's and runc's lists).
const std::vector<std::string>& default_masked_paths();
const std::vector<std::string>& default_readonly_paths();

}  // namespace truman::detail
