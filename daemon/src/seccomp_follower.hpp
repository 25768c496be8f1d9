// Streaming a container's seccomp.log (seccomp.log.1, then seccomp.log) to a seccomp() caller,
// woken by the service's DirWatch whenever the monitor appends: pushed, never polled.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "dir_watch.hpp"
#include "truman/daemon/service.hpp"

namespace truman::daemon {

// Delivers the records of dir/seccomp.log at or after since (seccomp_since's text), the last
// tail of them, in order, on the io_context; then, unless following, calls on_end. When
// following, it delivers what the monitor appends until container_done() says the container
// has exited (or is gone) and calls on_end after the last record. container_done is asked
// whenever state.json changes, so it should read it from disk: the monitor writes "exited"
// there after its last record.
std::unique_ptr<Subscription> follow_seccomp_log(
    boost::asio::io_context& io, DirWatch& watch, const std::string& dir, std::string since,
    std::optional<size_t> tail, bool follow, std::function<bool()> container_done,
    std::function<void(const SeccompRecord&)> on_record, std::function<void()> on_end);

}  // namespace truman::daemon
