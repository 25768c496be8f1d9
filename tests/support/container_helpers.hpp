// Run a container to completion and capture what it printed.
#pragma once

#include <string>

#include "truman/container.hpp"
#include "truman/spec.hpp"

namespace truman::test {

struct RunResult {
    ExitStatus status;
    std::string out;  // stdout and stderr, interleaved
};

// create + start + read output + wait + destroy.
RunResult run_container(const ContainerSpec& spec, CgroupManager* cgroups = nullptr,
                        const std::string& id = "");

// CreateOptions with an id and (optionally) a cgroup manager; stdio goes to /dev/null.
CreateOptions make_options(const std::string& id, CgroupManager* cgroups = nullptr);

// A busybox spec with every namespace but user, running `sh -c script`.
ContainerSpec busybox_spec(const std::string& script);

// Add a user namespace mapping container 0..size-1 to host_id.. (uid and gid).
void add_user_namespace(ContainerSpec& spec, uint32_t host_id, uint32_t size);

}  // namespace truman::test
