// The HTTP/1.1 server on a listening Unix socket: accepts connections and runs one session per
// connection on its own strand. A session owns its socket, its timeouts and its limits, parses
// requests with Beast and hands them to the Router; handlers never see the socket.
//
// Limits (defaults, each answered the way a client can act on):
//   body over max_body_bytes (1 MiB)          -> 413, connection closed
//   header over max_header_bytes (8 KiB)      -> 431, connection closed
//   no complete request within idle_timeout (30 s; also between keep-alive requests)
//                                             -> connection dropped (slowloris)
//   more than max_connections (256) at once   -> 503, connection closed
//   a streaming client that stops reading while more than max_stream_backlog (8 MiB) waits
//                                             -> connection dropped
//   a peer that check_peer rejects            -> 403, connection closed
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "truman/api/router.hpp"

namespace truman::api {

struct ServerLimits {
    size_t max_body_bytes = 1 << 20;
    size_t max_header_bytes = 8 << 10;
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
    size_t max_connections = 256;
    size_t max_stream_backlog = 8 << 20;
    // The body of a streaming route (Router::add_streaming: an image import).
    uint64_t max_stream_body_bytes = uint64_t{64} << 30;
};

struct PeerCredentials {  // SO_PEERCRED of the connecting process
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};
using PeerCheck = std::function<bool(const PeerCredentials&)>;

class Server {
  public:
    // Takes ownership of listen_fd, a bound and listening AF_UNIX stream socket. router must
    // outlive the server's io work. An empty check_peer lets everyone in.
    Server(boost::asio::io_context& io, int listen_fd, const Router& router,
           ServerLimits limits = {}, PeerCheck check_peer = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void start();

    // Stop accepting. Idle and streaming connections close at once; requests in flight get up
    // to grace to be answered. done runs once (on an io thread) when every connection is gone
    // or the grace ran out.
    void shutdown(std::chrono::milliseconds grace, std::function<void()> done);

    size_t connection_count() const;

    struct Impl;  // in server.cpp; public only so that the sessions there can name it

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace truman::api
