// Watching a container's monitor process from trumand: a pidfd, readable once the monitor has
// exited, waited for on the io_context. The service never reaps a monitor (it is not its
// child); it only learns that it is gone, and then reads the state.json the monitor left.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "truman/fd.hpp"

namespace truman::daemon {

// How long remove() and a restarting service wait for a SIGKILLed monitor to be gone.
constexpr int monitor_exit_timeout_ms = 15000;

class MonitorWatch : public std::enable_shared_from_this<MonitorWatch> {
  public:
    using OnExit = std::function<void(const MonitorWatch* watch)>;

    // A watch of pid if it is (still) the monitor of container id; nullptr if that process is
    // gone, or its PID now belongs to another process.
    static std::shared_ptr<MonitorWatch> open(boost::asio::io_context& io, pid_t pid,
                                              const std::string& id);

    // Calls on_exit once, on the io_context, when the monitor has exited, unless close()d
    // first.
    void start(const OnExit& on_exit);
    void close();
    // A descriptor of the monitor that outlives the watch (for wait_for_exit); invalid once
    // closed.
    Fd dup_pidfd();

    MonitorWatch(boost::asio::io_context& io, Fd pidfd, std::string id);

  private:
    void arm(OnExit on_exit);
    void woken(const OnExit& on_exit);

    std::mutex mutex_;  // the descriptor is used from io threads and callers alike
    boost::asio::posix::stream_descriptor descriptor_;
    std::string id_;
    bool closed_ = false;
    bool fired_ = false;
};

// Waits up to timeout_ms for the process behind pidfd to exit; false if it is still there.
bool wait_for_exit(int pidfd, int timeout_ms);

// Finds the monitor of container id by its command line (for when there is no state.json
// with its PID) and SIGKILLs it through a pidfd, so the PID cannot be reused between the
// check and the kill; waits for it to be gone. Processes in another PID namespace (the
// container's, before its exec) are left to the cgroup cleanup.
void kill_stray_monitor(const std::string& id);

}  // namespace truman::daemon
