// A second process in a running container (docker exec): it joins every namespace of the
// container's init, its cgroup, and runs with the container's confinement -- capabilities,
// no_new_privs, its own copy of the seccomp filter (with a listener of its own), rlimits,
// user, umask and env -- unless the exec overrides the user, env or cwd.
//
// Container::exec() (container.hpp) prepares the plan in the caller, clones the child and
// returns once it has exec'd (or throws the step that failed). The caller must be
// single-threaded while it runs, as for Container::create().
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "truman/container.hpp"
#include "truman/seccomp.hpp"
#include "truman/spec.hpp"

namespace truman {

struct ExecSpec {
    std::vector<std::string> args;   // argv; args[0] is looked up in the container's PATH
    std::vector<std::string> env;    // KEY=VALUE: replaces the container's KEY, or is added
    std::optional<std::string> cwd;  // absolute, inside the container; default: the init's
    std::optional<User> user;        // default: the init's (uid, gid, groups, umask)
    int stdin_fd = -1;               // fd 0 of the process; -1 = /dev/null
    int stdout_fd = -1;
    int stderr_fd = -1;
    // Instead of the three above: its own pty from the container's devpts, owned by its user,
    // the slave its 0-2 and controlling terminal (in a session of its own); take_terminal()
    // gives the master.
    bool terminal = false;
};

// The process concern's rules (process.hpp: validate_process) in the exec's field names:
// throws truman::Error (invalid) naming "cmd", "env[i]", "cwd" or "user.umask".
void validate(const ExecSpec& spec);
// Whether an exec into the container needs its caller to run from a sealed copy of its binary
// (sealed_exe.hpp): the container holds CAP_SYS_PTRACE and has no user namespace, so being
// non-dumpable does not keep it from the caller's children's /proc/<pid>/exe.
bool exec_needs_sealed_copy(const ContainerSpec& container);
// The container's env with the exec's entries applied (same key: the exec's wins).
std::vector<std::string> merge_env(const std::vector<std::string>& container,
                                   const std::vector<std::string>& exec);

// Reap (or destroy) every exec before Container::destroy(): on cgroup v1 a zombie stays in
// its cgroup until reaped, and the container's cgroup cannot be emptied while it is there.
class ExecProcess {
  public:
    ~ExecProcess();  // SIGKILLs and reaps the process if it still runs
    ExecProcess(const ExecProcess&) = delete;
    ExecProcess& operator=(const ExecProcess&) = delete;

    pid_t pid() const noexcept;  // host PID
    int pidfd() const noexcept;  // readable when it exits
    // Its seccomp listener (-1 if the profile records nothing): call handle_seccomp() when
    // readable.
    int seccomp_fd() const noexcept;
    std::optional<BlockedSyscall> handle_seccomp();
    std::optional<ExitStatus> try_wait();  // non-blocking reap
    ExitStatus wait();                     // blocking (answers seccomp meanwhile)
    void kill(int signal);                 // ESRCH after exit is not an error
    Fd take_terminal();  // the master of its pty (ExecSpec::terminal), once; else invalid

    struct State;
    explicit ExecProcess(std::unique_ptr<State> state);

  private:
    std::unique_ptr<State> state_;
};

}  // namespace truman
