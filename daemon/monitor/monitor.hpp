// truman-monitor: one single-threaded process per container. It creates the container,
// holds its stdout/stderr and writes them to container.log, answers its seccomp
// notifications, obeys "start"/"kill" on a control socket, reaps it and records how it
// exited in state.json. trumand only talks to it, so trumand can die and come back without
// the container noticing.
#pragma once

#include <cstdint>
#include <string>

namespace truman::daemon {

struct MonitorOptions {
    std::string container_dir;   // <state-dir>/containers/<id>
    std::string run_dir;         // <run-dir>/<id>: holds monitor.sock
    int sync_fd = -1;            // one report line goes here once the container exists
    uint64_t log_max_bytes = 0;  // 0: default_log_max_bytes
};

// Everything after detaching: create, report, serve until the container has exited.
// Returns the process exit status.
int run_monitor(const MonitorOptions& options);

}  // namespace truman::daemon
