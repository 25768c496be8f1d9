#include "stdio_hub.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace truman::daemon {

namespace {

// Past this much unwritten output for one client the process's output is not read until the
// client catches up: a few frames' worth, so that a fast client never waits for it.
constexpr size_t max_backlog = size_t{1} << 20;
constexpr size_t read_chunk = 65536;
// How long finish() keeps writing what is left to a client that reads slowly.
constexpr int finish_ms = 5000;

long long now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void close_connection(Fd& socket) {
    shutdown(socket.get(), SHUT_RDWR);
    socket.reset();
}

}  // namespace

StdioHub::StdioHub(Fd stdin_pipe, bool stdin_once, bool terminal)
    : stdin_(std::move(stdin_pipe)), stdin_once_(stdin_once), terminal_(terminal) {
    if (stdin_) fcntl(stdin_.get(), F_SETFL, O_NONBLOCK);
}

void StdioHub::add(Fd connection, const AttachRequest& request,
                   const std::vector<std::pair<StreamType, std::string>>& history) {
    fcntl(connection.get(), F_SETFL, O_NONBLOCK);
    Client client{std::move(connection), request, nullptr, {}};
    // On a terminal, Docker's default keys (ctrl-p ctrl-q) unless the client named others.
    if (!request.detach_keys.empty())
        client.detach = std::make_unique<DetachMatcher>(request.detach_keys);
    else if (terminal_)
        client.detach = std::make_unique<DetachMatcher>(std::string("\x10\x11"));
    // What it sent behind its request, before the upgrade, is the first of its input.
    client.streams.input.clear();
    // The handshake (the API's 101) goes first, before any output: the socket is empty, so
    // it is written whole at once, and the client, which starts the process only once it
    // has seen it, misses nothing.
    client.backlog = std::move(client.streams.handshake);
    client.streams.handshake.clear();
    clients_.push_back(std::move(client));
    for (const auto& [type, data] : history) queue(clients_.back(), type, data);
    write_backlog(clients_.back());
    if (request.stdin_stream && stdin_ && !request.input.empty()) {
        pending_ += request.input;
        write_stdin();
    }
}

// Into the client's backlog if it asked for the stream: raw on a terminal, else as frames.
bool StdioHub::queue(Client& c, StreamType type, std::string_view data) const {
    bool wanted =
        type == StreamType::stdout_stream ? c.streams.stdout_stream : c.streams.stderr_stream;
    if (terminal_) wanted = c.streams.stdout_stream || c.streams.stderr_stream;
    if (!wanted || c.gone) return false;
    if (terminal_)
        c.backlog += data;
    else
        c.backlog += encode_frames(type, data);
    return true;
}

void StdioHub::output(StreamType type, std::string_view data) {
    for (auto& c : clients_)
        if (queue(c, type, data)) write_backlog(c);
}

bool StdioHub::accepts_output() const {
    return std::all_of(clients_.begin(), clients_.end(),
                       [](const Client& c) { return c.backlog.size() < max_backlog; });
}

void StdioHub::add_poll(std::vector<pollfd>& fds) const {
    for (const auto& c : clients_) {
        short events = 0;
        // A client that sends input waits while the pipe is full; one that sends none is
        // still read, to notice it leave.
        if (c.input_open && (pending_.empty() || !c.streams.stdin_stream)) events |= POLLIN;
        if (!c.backlog.empty()) events |= POLLOUT;
        fds.push_back({c.socket.get(), events, 0});
    }
    fds.push_back({pending_.empty() ? -1 : stdin_.get(), POLLOUT, 0});
}

void StdioHub::handle(const pollfd* fds) {
    for (size_t i = 0; i < clients_.size(); ++i) {
        Client& c = clients_[i];
        short revents = fds[i].revents;
        if (!revents) continue;
        if (revents & POLLOUT) write_backlog(c);
        if (c.input_open && (revents & (POLLIN | POLLHUP | POLLERR))) read_input(c);
        // Both directions closed by the peer: nothing can reach it any more.
        if (!c.input_open && (revents & (POLLHUP | POLLERR))) c.gone = true;
    }
    if (fds[clients_.size()].revents) write_stdin();
    std::erase_if(clients_, [](Client& c) {
        if (c.gone) close_connection(c.socket);
        return c.gone;
    });
}

void StdioHub::write_backlog(Client& c) {
    size_t done = 0;
    while (done < c.backlog.size()) {
        ssize_t n = send(c.socket.get(), c.backlog.data() + done, c.backlog.size() - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            // The client went away: it no longer holds the process's output up.
            c.gone = true;
            c.backlog.clear();
            return;
        }
        done += static_cast<size_t>(n);
    }
    c.backlog.erase(0, done);
}

void StdioHub::read_input(Client& c) {
    char buf[read_chunk];
    ssize_t n = recv(c.socket.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) {
        c.gone = true;
        c.input_open = false;
        return;
    }
    if (n == 0) {
        // A half-close: its input is over. With stdin_once that is the process's EOF; on a
        // terminal it ends the attach.
        c.input_open = false;
        if (terminal_ && c.streams.stdin_stream) {
            c.gone = true;
            return;
        }
        if (c.streams.stdin_stream && stdin_once_) close_stdin();
        return;
    }
    if (!c.streams.stdin_stream) return;  // not attached to stdin: ignored
    std::string_view data(buf, static_cast<size_t>(n));
    std::string passed;
    if (c.detach) {
        if (c.detach->feed(data, passed)) {
            // Detached: the process keeps running, and keeps its stdin.
            c.gone = true;
            c.input_open = false;
        }
    } else {
        passed.assign(data);
    }
    if (stdin_) pending_ += passed;
    write_stdin();
}

void StdioHub::write_stdin() {
    while (stdin_ && !pending_.empty()) {
        ssize_t n = ::write(stdin_.get(), pending_.data(), pending_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) {
            // EPIPE: the process closed its stdin; what it would not read is dropped.
            pending_.clear();
            stdin_.reset();
            return;
        }
        pending_.erase(0, static_cast<size_t>(n));
    }
    if (close_stdin_after_ && pending_.empty()) stdin_.reset();
}

void StdioHub::close_stdin() {
    close_stdin_after_ = true;
    write_stdin();
}

void StdioHub::finish() {
    long long deadline = now_ms() + finish_ms;
    for (auto& c : clients_) {
        while (!c.gone && !c.backlog.empty()) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                spdlog::warn("attached client does not read; {} bytes of output dropped",
                             c.backlog.size());
                break;
            }
            pollfd p{c.socket.get(), POLLOUT, 0};
            if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
            write_backlog(c);
        }
        close_connection(c.socket);
    }
    clients_.clear();
    stdin_.reset();
}

}  // namespace truman::daemon
