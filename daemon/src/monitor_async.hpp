// Asking a monitor without holding a thread: for a reply that comes when something happens
// in the container (wait_exec is answered once the exec has exited).
#pragma once

#include <boost/asio/io_context.hpp>
#include <exception>
#include <functional>
#include <string>

#include "truman/daemon/monitor_protocol.hpp"

namespace truman::daemon {

// Connects, sends command and calls done on the io_context with the reply, or with the
// reply's error, or a truman::Error (system) if the monitor cannot be reached or closes
// without a reply. Never throws.
void async_ask_monitor(boost::asio::io_context& io, const std::string& socket_path,
                       const ControlCommand& command,
                       const std::function<void(std::exception_ptr, MonitorReply)>& done);

}  // namespace truman::daemon
