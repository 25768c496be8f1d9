// Parent-side plan pieces that the init (container.cpp) and an exec (exec.cpp) share: the
// ProcessPlan a child confines itself by (child_confine.hpp) and the memory it points into,
// the PATH walk, the report channel, and the messages for the steps both children share.
#pragma once

#include <sys/resource.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_confine.hpp"
#include "child_report.hpp"
#include "truman/cgroups.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"
#include "truman/seccomp.hpp"
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

// A ProcessPlan and everything it points into, alive in the parent until the child has
// exec'd. Not movable: the plan holds pointers into its own members.
struct PreparedProcess {
    ProcessPlan plan;
    std::vector<std::string> strings;  // argv, envp, exec candidates (reserved: stable)
    std::vector<char*> argv, envp;
    std::vector<const char*> exec_paths;
    std::vector<int> rlimit_resources;
    std::vector<struct rlimit> rlimit_values;
    std::vector<gid_t> groups;
    std::optional<SeccompProgram> seccomp;
    Fd dev_null;
    std::string cwd;

    PreparedProcess() = default;
    PreparedProcess(const PreparedProcess&) = delete;
    PreparedProcess& operator=(const PreparedProcess&) = delete;
};

// What a process is made from: the container's (or, for an exec, the merged) process, the
// container's seccomp choice, and the caller's stdio (-1: /dev/null).
struct ProcessInputs {
    const Process& process;
    const Linux& container_linux;  // its seccomp choice
    bool may_setgroups = true;
    const char* groups_field = "process.user.additionalGids";  // named when groups are refused
    std::string seccomp_cache_dir{};
    int stdio[3] = {-1, -1, -1};
    bool terminal = false;  // a pty of the container's devpts instead of stdio
};

// Fills out.plan: rlimits, capability masks, user, groups, umask, cwd, no_new_privs, the
// compiled (cached) seccomp filter, argv/envp and the PATH candidates, stdio. Throws
// truman::Error (invalid) for what the kernel would refuse later anyway.
void prepare_process(PreparedProcess& out, const ProcessInputs& in);

// Blocks until pidfd is readable (the process has exited; the caller reaps it), calling
// on_seccomp whenever seccomp_fd (-1: none) has a notification to answer meanwhile, which the
// process would otherwise wait on forever. `what` names it in errors ("container c1").
void wait_answering_seccomp(int pidfd, int seccomp_fd, const std::function<void()>& on_seccomp,
                            const std::string& what);

// The report channel: one ChildReport per recv (false on EOF: the child exec'd or died),
// and the go/start byte. `who` names the child in errors ("the container", "the exec").
bool read_report(int fd, ChildReport& r, const char* who);
void send_byte(int fd, const char* what);

// The message for a failed step both children share (child_confine.cpp, and execve), with
// the request's cwd and argv[0]; nullopt for a step only one of them has. cwd and execve
// failures the caller can fix are ErrorKind::invalid.
std::optional<Error> process_error(const ChildReport& r, const std::string& cwd,
                                   const std::string& program);

// Container::exec's work (exec.cpp): the container's spec, its init's pidfd and cgroup.
std::unique_ptr<ExecProcess> spawn_exec(const ContainerSpec& container, int init_pidfd,
                                        Cgroup* cgroup, const std::string& seccomp_cache_dir,
                                        const ExecSpec& spec);

}  // namespace truman::detail
