// A container's lifecycle, OCI style: create (namespaces, root and confinement ready, the
// process parked before execve), start (execve the command), wait, kill, destroy.
//
// The caller must be single-threaded while create() runs (the monitor is; so are the tests):
// the child is a fork-like clone of the caller and runs only raw syscalls until execve.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "truman/cgroups.hpp"
#include "truman/fd.hpp"
#include "truman/seccomp.hpp"
#include "truman/spec.hpp"

namespace truman {

struct ExecSpec;    // exec.hpp
class ExecProcess;  // exec.hpp

struct ExitStatus {
    int exit_code = 0;  // WEXITSTATUS, or 128+signal when killed (shell convention)
    int signal = 0;     // the signal that killed it, 0 if it exited
    bool oom_killed = false;
};

struct CreateOptions {
    std::string id;      // unique; names the cgroup and the host veth
    int stdin_fd = -1;   // given to the container as fd 0; -1 = /dev/null
    int stdout_fd = -1;  // fd 1; -1 = /dev/null
    int stderr_fd = -1;  // fd 2; -1 = /dev/null
    // Instead of the three above: a pty from the container's own devpts, its slave the init's
    // 0-2 and controlling terminal; take_terminal() gives the master.
    bool terminal = false;
    CgroupManager* cgroups = nullptr;  // nullptr = no cgroup (limits in the spec then fail)
    std::string seccomp_cache_dir;  // where compiled seccomp programs are kept ("" = memory only)
};

class Container {
  public:
    // Validate the spec, prepare every plan in the parent, clone the child into its
    // namespaces, and return once it is parked before execve. Throws truman::Error with the
    // child's failing step and errno ("pivot_root: Invalid argument") and leaves nothing behind.
    static std::unique_ptr<Container> create(const ContainerSpec& spec,
                                             const CreateOptions& options);

    ~Container();  // releases like destroy(), but can report nothing
    Container(const Container&) = delete;
    Container& operator=(const Container&) = delete;

    const std::string& id() const noexcept;
    pid_t pid() const noexcept;       // host PID of the container's init
    int pidfd() const noexcept;       // pollable: readable when the init exits
    Cgroup* cgroup() const noexcept;  // nullptr without a cgroup manager
    std::string host_interface() const;
    // The master of the init's terminal (CreateOptions::terminal), once: an invalid Fd after
    // the first call or without one.
    Fd take_terminal();

    // execve the command. Throws truman::Error (e.g. "execve /bin/nope: No such file or
    // directory") if the exec itself fails, or conflict if already started.
    void start();

    // Seccomp denials wait for an answer on this fd (-1 if the profile records nothing);
    // a caller with its own poll loop calls handle_seccomp() when it is readable.
    int seccomp_fd() const noexcept;
    std::optional<BlockedSyscall> handle_seccomp();
    // Called for each denial answered inside wait(); default: none.
    void on_blocked(std::function<void(const BlockedSyscall&)> callback);

    ExitStatus wait();                     // blocks (answering seccomp notifications meanwhile)
    std::optional<ExitStatus> try_wait();  // non-blocking reap
    void kill(int signal);                 // to the init; ESRCH after exit is not an error
    // Run another process in the started, running container (exec.hpp). Throws
    // truman::Error: conflict if it is not running, invalid for a bad spec or a cwd or
    // program that is not there, else the failing step.
    std::unique_ptr<ExecProcess> exec(const ExecSpec& spec);
    // Kill what is still running (the init and whatever else is in its cgroup), reap it,
    // and release every resource: cgroup, host veth, descriptors. Idempotent. Every step is
    // tried; if any failed, throws one truman::Error naming each (with the first one's kind
    // and errno): "container c1: remove its cgroup: rmdir ...: Device or resource busy".
    // What failed is left in place, so calling destroy() again retries it. A failure to
    // read the OOM state after the exit is reported here too (the exit stays known).
    void destroy();

  private:
    struct State;
    explicit Container(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// Run fn in a child in new PID (and mount) namespaces on a stack of its own; return fn's
// exit status (its return value), not the PID. A failed clone throws.
int run_in_new_pid_namespace(const std::function<int()>& fn, int extra_clone_flags = 0);

}  // namespace truman
