// How the service and a container's monitor (truman-monitor) talk. Every message is one JSON
// object on one line, and each kind of message is a type with one encoder and one parser.
//
// Start-up: the service passes the write end of a pipe as --sync-fd; once the container is
// created (or creating it failed) the monitor writes one MonitorReply there.
// Control: a Unix stream socket <run-dir>/<id>/monitor.sock, one ControlCommand per
// connection, answered by one MonitorReply.
//
//   {"command":"start"}   {"command":"kill","signal":15}
//   {"command":"exec","exec":"<exec id>"}       start the exec whose config.json is on disk
//   {"command":"wait_exec","exec":"<exec id>"}  answered once that exec has exited
//   {"command":"attach","stdin":true,"stdout":true,"stderr":true,"detach_keys":"1011",
//    "input":"<hex>"}                             with the client's socket as SCM_RIGHTS
//   {"command":"exec","exec":"<exec id>","attach":{...the same fields...}}  with its socket
//   {"command":"resize","height":24,"width":80[,"exec":"<exec id>"]}  the terminal's size
//   {"ok":true,"pid":1234,"monitor_pid":1230}     (the pids only in the start-up reply)
//   {"ok":true,"pid":1240}                        (exec: the exec's host PID)
//   {"ok":true,"exit_code":0,"signal":0}          (wait_exec)
//   {"error":{"kind":"system","errno":2,"message":"mount /src on /mnt: No such file or directory"}}
//
// A failure carries the truman::Error the monitor caught, whole: its kind, its errno (0 when
// no system call failed) and its message, which names the failing step. The service throws
// that same error, so a caller sees exactly what went wrong in the monitor.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <exception>
#include <optional>
#include <string>

#include "truman/daemon/service.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman::daemon {

struct MonitorReply {
    std::optional<Error> error;         // nullopt: it worked
    pid_t pid = 0;                      // start-up: the container's init
    pid_t monitor_pid = 0;              // start-up: the (detached) monitor
    std::optional<int> exit_code = {};  // wait_exec
    int signal = 0;                     // wait_exec
};
std::string encode_reply(const MonitorReply& reply);
// Throws truman::Error (system) for a line that is not a reply.
MonitorReply parse_reply(const std::string& line);
// Throws the reply's error, if it carries one.
void throw_if_failed(const MonitorReply& reply);
// The reply for a failure caught in the monitor: a truman::Error as it is, anything else as a
// system error with its what().
MonitorReply failure_reply(const std::exception& failure);

struct ControlCommand {
    enum class Verb { start, kill, exec, wait_exec, attach, resize } verb = Verb::start;
    int signal = 0;
    std::string exec_id = {};  // exec, wait_exec, resize (optional): 64 hex characters
    // attach, and an exec started attached: the streams (detach_keys and input travel as hex,
    // since they are bytes); the connection itself is passed along with the line.
    std::optional<AttachRequest> attach = {};
    unsigned height = 0, width = 0;  // resize: 1..65535
    // exec: answer once it has exited (the wait_exec reply), not once it runs: a start that
    // waits for the exit costs one round trip, not two.
    bool wait = false;
};
std::string encode_command(const ControlCommand& command);
// Throws truman::Error (invalid) for a malformed line, an unknown verb, a signal outside
// 1..SIGRTMAX, an exec id that is not 64 hex characters or a size outside 1..65535.
ControlCommand parse_command(const std::string& line);

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

// Connect to a monitor's control socket, send one command and return once it replied that it
// worked; throws its error, or truman::Error (system) if it cannot be reached within
// timeout_ms.
void send_monitor_command(const std::string& socket_path, const ControlCommand& command,
                          int timeout_ms = 10000);
// The same, returning the reply (exec: the exec's PID). pass_fd >= 0 travels with the
// command as SCM_RIGHTS (attach: the client's connection).
MonitorReply ask_monitor(const std::string& socket_path, const ControlCommand& command,
                         int timeout_ms = 10000, int pass_fd = -1);

}  // namespace truman::daemon
