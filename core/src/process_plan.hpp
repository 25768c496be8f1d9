// Parent-side plan pieces that the init (container.cpp) and an exec (exec.cpp) share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "truman/cgroups.hpp"
#include "truman/spec.hpp"

namespace truman {
struct ExecSpec;
class ExecProcess;
}  // namespace truman

namespace truman::detail {

// Like execvp, but the PATH walk (the container's PATH, from env) is prepared in the parent:
// the child only tries each candidate.
std::vector<std::string> exec_candidates(const std::vector<std::string>& args,
                                         const std::vector<std::string>& env);

// Container::exec's work (exec.cpp): the container's spec, its init's pidfd and cgroup.
std::unique_ptr<ExecProcess> spawn_exec(const ContainerSpec& container, int init_pidfd,
                                        Cgroup* cgroup, const std::string& seccomp_cache_dir,
                                        const ExecSpec& spec);

}  // namespace truman::detail
