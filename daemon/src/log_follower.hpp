// Streaming a container's log (container.log.1, then container.log) to a logs() caller.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "dir_watch.hpp"
#include "truman/daemon/service.hpp"

namespace truman::daemon {

// Delivers the lines of log_path that options select, in order, on the io_context; then,
// unless following, calls on_end. When following, it delivers what the monitor appends as
// it is written (watch's inotify on the log's directory, no timer) until container_done() says the
// container has exited (or is gone), and calls on_end after the last line.
// on_container_exit(wake) must arrange for wake() to be called once container_done() has
// become true (at once if it already is), so that the stream notices the end.
std::unique_ptr<Subscription> follow_log(
    boost::asio::io_context& io, DirWatch& watch, const std::string& log_path,
    const LogOptions& options, std::function<bool()> container_done,
    const std::function<void(std::function<void()>)>& on_container_exit,
    std::function<void(const LogLine&)> on_line, std::function<void()> on_end);

}  // namespace truman::daemon
