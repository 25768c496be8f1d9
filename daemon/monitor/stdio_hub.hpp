// The attached clients of one process's stdio (the container's init, or an exec started
// attached), inside the monitor: what the process writes goes to every client that asked for
// that stream, as Docker's frames (stream_frame.hpp); what the clients send goes to the
// process's stdin pipe, which the hub holds. Sockets and the pipe are non-blocking and served
// from the monitor's poll loop, so one slow party never blocks the others -- except that the
// process's output is not read while a client still has a full backlog (the process then
// waits, as it would on a full pipe), and a client's input is not read while the pipe is
// full (the client then waits): memory stays bounded whatever the volume.
#pragma once

#include <poll.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "truman/daemon/service.hpp"
#include "truman/detach_keys.hpp"
#include "truman/fd.hpp"
#include "truman/stream_frame.hpp"

namespace truman::daemon {

class StdioHub {
  public:
    // stdin_pipe: the write end of the process's stdin (invalid: it has none, input is
    // dropped). stdin_once: the first client whose input ends (a half-close) closes it.
    // terminal: the process's stdio is a terminal (stdin_pipe its master, if given): output
    // goes to clients as raw bytes, not frames, and a client's half-close ends its attach
    // (as in Docker: a terminal has no EOF to pass on).
    StdioHub(Fd stdin_pipe, bool stdin_once, bool terminal = false);

    // A client connection; request.input is what it sent behind its request, and
    // request.handshake what it is written first (the API's "101 UPGRADED"), then history
    // (the log so far, for the streams it asked for), then the live output.
    void add(Fd connection, const AttachRequest& request,
             const std::vector<std::pair<StreamType, std::string>>& history = {});

    // What the process wrote; dropped for clients that did not ask for the stream.
    void output(StreamType type, std::string_view data);
    // False while a client's backlog is full: do not read more output yet.
    bool accepts_output() const;

    // One pollfd per client, then the stdin pipe: poll them, then call handle with the same
    // entries.
    void add_poll(std::vector<pollfd>& fds) const;
    void handle(const pollfd* fds);
    size_t poll_count() const { return clients_.size() + 1; }

    // The process has exited and its output was delivered: write what is left to each
    // client (for a little while), then close them.
    void finish();
    size_t clients() const { return clients_.size(); }

  private:
    struct Client {
        Fd socket;
        AttachRequest streams;
        std::unique_ptr<DetachMatcher> detach;  // null: no detach keys
        std::string backlog = {};               // output not yet written
        bool input_open = true;                 // false once its input ended (or it detached)
        bool gone = false;                      // broken or detached: removed after handling
    };

    bool queue(Client& client, StreamType type, std::string_view data) const;
    void write_backlog(Client& client);
    void read_input(Client& client);
    void write_stdin();
    void close_stdin();

    Fd stdin_;
    bool stdin_once_;
    bool terminal_;
    bool close_stdin_after_ = false;  // close once pending is written
    std::string pending_;             // client input not yet in the pipe
    std::vector<Client> clients_;
};

}  // namespace truman::daemon
