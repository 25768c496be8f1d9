// How the service and a container's monitor (truman-monitor) talk.
//
// Start-up: the service passes the write end of a pipe as --sync-fd; the monitor writes one
// line once the container is created (or creating it failed) and closes it:
//   {"ok":true,"pid":1234,"monitor_pid":1230}
//   {"error":{"kind":"invalid","message":"pivot_root: Invalid argument"}}
// Control: a Unix stream socket <run-dir>/<id>/monitor.sock, one command line per connection,
// one reply line:  "start" | "kill <signal>"  ->  "ok" | "error <kind> <message>".
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <string>

#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::daemon {

struct MonitorReport {
    bool ok = false;
    pid_t pid = 0;          // the container's init
    pid_t monitor_pid = 0;  // the (detached) monitor
    ErrorKind kind = ErrorKind::system;
    std::string message;
};

std::string encode_report_ok(pid_t pid, pid_t monitor_pid);
std::string encode_report_error(ErrorKind kind, const std::string& message);
// Throws truman::Error (system) for a line that is not a report.
MonitorReport parse_report(const std::string& line);

struct ControlCommand {
    enum class Verb { start, kill } verb = Verb::start;
    int signal = 0;
};
std::string encode_command(const ControlCommand& command);
// Throws truman::Error (invalid) for an unknown verb or a signal outside 1..64.
ControlCommand parse_command(const std::string& line);

std::string encode_reply_ok();
std::string encode_reply_error(ErrorKind kind, const std::string& message);
// Does nothing for "ok"; throws the reply's error as truman::Error (kind and message).
void check_reply(const std::string& reply);

ErrorKind error_kind_from_string(const std::string& kind);  // unknown -> system

// The address of a Unix socket at path, whatever its length. sun_path holds 107 bytes, and
// <run-dir>/<64-hex id>/monitor.sock outgrows it for a run dir of more than ~28 characters;
// then the address names the socket through an O_PATH descriptor of its directory,
// /proc/self/fd/N/monitor.sock, as systemd does. Keep the object alive while binding or
// connecting.
class UnixSocketAddress {
  public:
    explicit UnixSocketAddress(const std::string& path);
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr_); }
    socklen_t size() const { return sizeof addr_; }

  private:
    sockaddr_un addr_{};
    Fd directory_;
};

// Connect to a monitor's control socket, send one command and return once it replied "ok";
// throws its error, or truman::Error (system) if it cannot be reached within timeout_ms.
void send_monitor_command(const std::string& socket_path, const ControlCommand& command,
                          int timeout_ms = 10000);

}  // namespace truman::daemon
