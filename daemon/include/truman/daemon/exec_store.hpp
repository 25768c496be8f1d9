// An exec's files, under its container's directory: <container>/execs/<exec id>/
//
//   config.json  what to run: the ExecRequest (written once by the service)
//   state.json   {"running":..,"pid":..,"exit_code":..,"signal":..} (written by the monitor,
//                atomically; absent until the exec was started)
//   output       its stdout and stderr as Docker stream frames (stream_frame.hpp), written by
//                the monitor and capped at the container's log size
//
// The monitor records the exit, so an exec's exit code outlives a trumand restart. Both files
// are replaced atomically (temp + rename) but not fsync'd by their writers, which answer a
// request right after: the service fsyncs the config and the start once it has replied
// (sync_later), as it does a container's records; the monitor the exit once it has told the
// waiters.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "truman/daemon/service.hpp"
#include "truman/daemon/state_store.hpp"

namespace truman::daemon {

class ExecPaths {
  public:
    ExecPaths(const ContainerPaths& container, const std::string& exec_id)
        : dir_(container.dir() + "/execs/" + exec_id) {}
    static std::string root(const ContainerPaths& container) { return container.dir() + "/execs"; }
    const std::string& dir() const { return dir_; }
    std::string config() const { return dir_ + "/config.json"; }
    std::string state() const { return dir_ + "/state.json"; }
    std::string output() const { return dir_ + "/output"; }

  private:
    std::string dir_;
};

struct ExecState {
    bool running = false;
    pid_t pid = 0;
    std::optional<int> exit_code;
    int signal = 0;
};

// Both throw truman::Error; reading names the file in the message.
void write_exec_config(const ExecPaths& paths, const ExecRequest& request);
ExecRequest read_exec_config(const ExecPaths& paths);
void write_exec_state(const ExecPaths& paths, const ExecState& state);
// nullopt when there is no state.json yet (never started).
std::optional<ExecState> read_exec_state(const ExecPaths& paths);

}  // namespace truman::daemon
