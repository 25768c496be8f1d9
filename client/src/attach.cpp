#include "truman/client/attach.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "truman/client/commands.hpp"

namespace truman::client {

namespace {

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

void write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // our stdout is gone: nothing left to show it to
        data += n;
        size -= static_cast<size_t>(n);
    }
}

int connect_to(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw ConnectionError("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw ConnectionError(errno_text("socket"));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        std::string why = errno_text("cannot connect to trumand at " + path);
        close(fd);
        throw ConnectionError(why);
    }
    return fd;
}

// Frames (type byte, three zero bytes, big-endian size, payload) to stdout and stderr.
class FrameWriter {
  public:
    void feed(const char* data, size_t size) {
        buffer_.append(data, size);
        size_t at = 0;
        while (buffer_.size() - at >= 8) {
            auto byte = [&](size_t i) {
                return static_cast<uint32_t>(static_cast<uint8_t>(buffer_[at + i]));
            };
            uint32_t len = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
            if (buffer_.size() - at - 8 < len) break;
            uint32_t type = byte(0);
            // 3: the daemon's own error after the upgrade.
            write_all(type == 1 ? 1 : 2, buffer_.data() + at + 8, len);
            at += 8 + len;
        }
        buffer_.erase(0, at);
    }

  private:
    std::string buffer_;
};

// Our stdin terminal in raw mode (no echo, no line editing, no signals from keys: ^C goes to
// the container's terminal as a byte) while this lives; restored however the pump ends. A
// stdin that is no terminal is left alone.
class RawTerminal {
  public:
    RawTerminal() {
        if (!isatty(0) || tcgetattr(0, &saved_) < 0) return;
        termios raw = saved_;
        cfmakeraw(&raw);
        active_ = tcsetattr(0, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) tcsetattr(0, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

  private:
    termios saved_{};
    bool active_ = false;
};

// Our window size (stdin's terminal, else stdout's); false without a terminal.
bool window_size(unsigned* height, unsigned* width) {
    winsize size{};
    if (ioctl(0, TIOCGWINSZ, &size) < 0 && ioctl(1, TIOCGWINSZ, &size) < 0) return false;
    if (size.ws_row == 0 || size.ws_col == 0) return false;
    *height = size.ws_row;
    *width = size.ws_col;
    return true;
}

// Docker's default detach keys on a terminal: ctrl-p, ctrl-q.
constexpr const char* kTerminalDetachKeys = "\x10\x11";

}  // namespace

std::string detach_key_bytes(const std::string& notation) {
    std::string out;
    size_t start = 0;
    while (start <= notation.size()) {
        size_t comma = notation.find(',', start);
        std::string key =
            notation.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (key.size() == 1) {
            out += key;
        } else if (key.size() == 6 && key.rfind("ctrl-", 0) == 0) {
            char c = key[5];
            if (c >= 'a' && c <= 'z')
                out += static_cast<char>(c - 'a' + 1);
            else if (c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' || c == '_')
                out += static_cast<char>(c - '@');
            else
                throw std::invalid_argument("--detach-keys: unknown key \"" + key + "\"");
        } else {
            throw std::invalid_argument("--detach-keys: unknown key \"" + key + "\"");
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

Upgraded upgrade(const ApiClient& api, const std::string& method, const std::string& target,
                 const nlohmann::json* body) {
    int fd = connect_to(api.socket_path());
    std::string payload = body ? body->dump() : "";
    std::string request = method + " " + target +
                          " HTTP/1.1\r\nHost: trumand\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n";
    if (body) request += "Content-Type: application/json\r\n";
    request += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    write_all(fd, request.data(), request.size());
    std::string in;
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            throw ConnectionError("trumand closed the connection before answering " + target);
        }
        in.append(buf, static_cast<size_t>(n));
    }
    std::string head = in.substr(0, end);
    std::string rest = in.substr(end + 4);
    unsigned status = 0;
    if (head.size() > 12) status = static_cast<unsigned>(std::atoi(head.c_str() + 9));
    if (status == 101) {
        std::string lower = head;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return {fd, rest, lower.find("application/vnd.docker.raw-stream") != std::string::npos};
    }
    // An error in plain HTTP: its body (Content-Length) is the API's error.
    size_t length = 0;
    for (size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2)) {
        std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
        for (size_t i = 0; i < line.size() && line[i] != ':'; ++i)
            line[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
        if (line.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
    }
    while (rest.size() < length) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        rest.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    throw api_error(status, rest);
}

PumpEnd pump(Upgraded connection, const PumpOptions& options) {
    int sock = connection.fd;
    const bool raw = connection.raw;
    FrameWriter frames;
    auto show = [&](const char* data, size_t size) {
        if (raw)
            write_all(1, data, size);
        else
            frames.feed(data, size);
    };
    std::optional<RawTerminal> terminal;
    if (raw && options.send_stdin) terminal.emplace();
    show(connection.pending.data(), connection.pending.size());
    int sigfd = -1;
    sigset_t proxied, previous;
    sigemptyset(&proxied);
    if (options.on_signal)
        for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&proxied, s);
    const bool resizes = raw && options.on_resize;
    if (resizes) sigaddset(&proxied, SIGWINCH);
    if (options.on_signal || resizes) {
        sigprocmask(SIG_BLOCK, &proxied, &previous);
        sigfd = signalfd(-1, &proxied, SFD_CLOEXEC | SFD_NONBLOCK);
    }
    auto resize = [&] {
        unsigned height = 0, width = 0;
        if (!resizes || !window_size(&height, &width)) return;
        try {
            options.on_resize(height, width);
        } catch (const std::exception&) {
            // It has exited meanwhile: the stream is about to end.
        }
    };
    resize();
    // On a terminal, the daemon detaches on ctrl-p ctrl-q unless told other keys.
    const std::string detach_keys =
        raw && options.detach_keys.empty() ? kTerminalDetachKeys : options.detach_keys;
    bool stdin_open = options.send_stdin;
    bool detached = false;
    std::string to_send;  // stdin read but not yet sent: stdin is not read while it holds any
    std::string recent;   // the last bytes sent, to see a detach sequence we typed
    bool write_shut = false;
    if (!stdin_open) {
        shutdown(sock, SHUT_WR);
        write_shut = true;
    }
    for (;;) {
        pollfd fds[3] = {{sock, static_cast<short>(POLLIN | (to_send.empty() ? 0 : POLLOUT)), 0},
                         {stdin_open && to_send.empty() ? 0 : -1, POLLIN, 0},
                         {sigfd, POLLIN, 0}};
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[2].revents) {
            signalfd_siginfo info{};
            while (read(sigfd, &info, sizeof info) == sizeof info) {
                if (info.ssi_signo == SIGWINCH) {
                    resize();
                    continue;
                }
                if (!options.on_signal) continue;
                try {
                    options.on_signal(static_cast<int>(info.ssi_signo));
                } catch (const std::exception& e) {
                    std::string line = std::string("trumanctl: ") + e.what() + "\n";
                    write_all(2, line.data(), line.size());
                }
            }
        }
        if (fds[1].revents) {
            char buf[65536];
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                stdin_open = false;
            } else {
                to_send.assign(buf, static_cast<size_t>(n));
                if (!detach_keys.empty()) {
                    recent += to_send;
                    if (recent.find(detach_keys) != std::string::npos) detached = true;
                    if (recent.size() > detach_keys.size())
                        recent.erase(0, recent.size() - detach_keys.size());
                }
            }
        }
        if (!to_send.empty() && (fds[0].revents & POLLOUT || fds[1].revents)) {
            ssize_t n = send(sock, to_send.data(), to_send.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) to_send.erase(0, static_cast<size_t>(n));
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                to_send.clear();
                stdin_open = false;
            }
        }
        if (!stdin_open && to_send.empty() && !write_shut) {
            // Our input is over: the half-close is the process's EOF (stdin_once).
            shutdown(sock, SHUT_WR);
            write_shut = true;
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[65536];
            ssize_t n = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) break;
            show(buf, static_cast<size_t>(n));
        }
    }
    close(sock);
    if (sigfd >= 0) {
        close(sigfd);
        sigprocmask(SIG_SETMASK, &previous, nullptr);
    }
    return detached ? PumpEnd::detached : PumpEnd::closed;
}

int attach_command(const ApiClient& api, const AttachOptions& options) {
    std::string path = "/v1/containers/" + url_encode(options.container);
    std::string keys = options.detach_keys.empty() ? "" : detach_key_bytes(options.detach_keys);
    std::string target =
        path + "/attach?stream=1&stdout=1&stderr=1&stdin=" + (options.no_stdin ? "0" : "1");
    if (!keys.empty()) target += "&detachKeys=" + url_encode(options.detach_keys);
    PumpOptions pump_options;
    pump_options.send_stdin = !options.no_stdin;
    pump_options.detach_keys = keys;
    if (options.sig_proxy)
        pump_options.on_signal = [&api, path](int signal) {
            api.call("POST", path + "/kill?signal=" + std::to_string(signal));
        };
    pump_options.on_resize = [&api, path](unsigned h, unsigned w) {
        api.call("POST", path + "/resize?h=" + std::to_string(h) + "&w=" + std::to_string(w));
    };
    if (pump(upgrade(api, "POST", target), pump_options) == PumpEnd::detached) return 0;
    nlohmann::json state = api.call_json("POST", path + "/wait");
    return exit_code_of(state);
}

}  // namespace truman::client

namespace truman::client {

int run_attached(const ApiClient& api, const std::string& path, bool send_stdin, bool tty) {
    Upgraded connection = upgrade(
        api, "POST", path + "/attach?stream=1&stdout=1&stderr=1&stdin=" + (send_stdin ? "1" : "0"));
    try {
        api.call("POST", path + "/start");
    } catch (...) {
        close(connection.fd);
        throw;
    }
    PumpOptions options;
    options.send_stdin = send_stdin;
    options.on_signal = [&api, path](int signal) {
        api.call("POST", path + "/kill?signal=" + std::to_string(signal));
    };
    if (tty)
        options.on_resize = [&api, path](unsigned h, unsigned w) {
            api.call("POST", path + "/resize?h=" + std::to_string(h) + "&w=" + std::to_string(w));
        };
    if (pump(std::move(connection), options) == PumpEnd::detached) return 0;
    return exit_code_of(api.call_json("POST", path + "/wait"));
}

}  // namespace truman::client
