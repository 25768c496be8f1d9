// Starting a container's monitor from trumand, which is multi-threaded: posix_spawn (a
// vfork-like clone straight into execve) is safe there, fork is not. The monitor, not
// trumand, creates the container (design rule 2).
#pragma once

#include <cstdint>
#include <string>

#include "truman/daemon/monitor_protocol.hpp"

namespace truman::daemon {

struct MonitorLaunch {
    std::string monitor_path;
    std::string container_dir;
    std::string run_dir;   // <run-dir>/<id>
    std::string log_file;  // the monitor's own stderr
    uint64_t log_max_bytes = 0;
    int timeout_ms = 60000;
    // Run it from a sealed memfd copy of its binary (exec_needs_sealed_copy, exec.hpp).
    bool sealed_copy = false;
};

// Spawn the monitor, reap its short-lived first process, and return its start-up reply
// (with both pids, or the error that creating the container failed with). After an error it
// also waits for the monitor to exit, so the caller can remove the container's directory.
// Throws truman::Error (system) when the monitor cannot be started or says nothing in time.
MonitorReply spawn_monitor(const MonitorLaunch& launch);

// The default monitor: truman-monitor next to /proc/self/exe, else the installed one.
std::string default_monitor_path();

}  // namespace truman::daemon
