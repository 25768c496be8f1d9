// trumanctl's side of the upgraded endpoints (attach, an attached exec start): the request,
// "101 UPGRADED", and then one loop that copies our stdin to the connection and the frames
// coming back to our stdout and stderr, forwarding SIGINT/SIGTERM/SIGHUP on the way.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "truman/client/api_client.hpp"

namespace truman::client {

// An upgraded connection: its socket (owned) and the bytes that came behind the 101; raw when
// the process has a terminal (Content-Type application/vnd.docker.raw-stream: no frames).
struct Upgraded {
    int fd = -1;
    std::string pending;
    bool raw = false;
};

// Sends method target (with body, if any) asking for the upgrade. Throws ApiError when
// trumand answers anything but 101, ConnectionError when it cannot be reached.
Upgraded upgrade(const ApiClient& api, const std::string& method, const std::string& target,
                 const nlohmann::json* body = nullptr);

struct PumpOptions {
    bool send_stdin = false;
    std::string detach_keys;  // raw bytes the daemon watches for; "" = none
    // Called with SIGINT, SIGTERM or SIGHUP when one arrives (sig-proxy); empty: not caught.
    std::function<void(int)> on_signal;
    // A terminal (the connection is raw): our stdin, if it is a terminal, is put in raw mode
    // for as long as we pump, and on_resize is called with our window size at the start and
    // on every SIGWINCH.
    std::function<void(unsigned height, unsigned width)> on_resize;
};

enum class PumpEnd { closed, detached };
// Until the daemon closes the connection (the process exited, or we detached). Closes fd.
PumpEnd pump(Upgraded connection, const PumpOptions& options);

// Docker's notation ("ctrl-p,ctrl-q") as bytes; std::invalid_argument for a bad one.
std::string detach_key_bytes(const std::string& notation);

// trumanctl attach [--detach-keys K] [--no-stdin] [--sig-proxy] CONTAINER: until the container
// exits (its exit code) or we detach (0).
struct AttachOptions {
    std::string container;
    std::string detach_keys;  // "" = none, or ctrl-p,ctrl-q if the container has a terminal
    bool no_stdin = false;
    bool sig_proxy = true;
};
int attach_command(const ApiClient& api, const AttachOptions& options);

// run: attached to the created container at path ("/v1/containers/<id>") before it starts,
// so nothing it writes (or, with send_stdin, reads) is missed; its exit code (0 after a
// detach).
// With tty (created with one): raw bytes, our terminal in raw mode, its size following ours.
int run_attached(const ApiClient& api, const std::string& path, bool send_stdin, bool tty);

}  // namespace truman::client
