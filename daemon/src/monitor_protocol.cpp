#include "truman/daemon/monitor_protocol.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "truman/fd.hpp"

using nlohmann::json;

namespace truman::daemon {

std::string encode_report_ok(pid_t pid, pid_t monitor_pid) {
    return json{{"ok", true}, {"pid", pid}, {"monitor_pid", monitor_pid}}.dump() + "\n";
}

std::string encode_report_error(ErrorKind kind, const std::string& message) {
    json doc = {{"error", {{"kind", to_string(kind)}, {"message", message}}}};
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

MonitorReport parse_report(const std::string& line) {
    json doc = json::parse(line, nullptr, false);
    MonitorReport report;
    try {
        if (doc.is_object() && doc.value("ok", false)) {
            report.ok = true;
            report.pid = doc.at("pid").get<pid_t>();
            report.monitor_pid = doc.at("monitor_pid").get<pid_t>();
            return report;
        }
        if (doc.is_object() && doc.contains("error")) {
            report.kind = error_kind_from_string(doc["error"].at("kind").get<std::string>());
            report.message = doc["error"].at("message").get<std::string>();
            return report;
        }
    } catch (const json::exception&) {
    }
    throw make_error(ErrorKind::system, "monitor sent a malformed report: " + line);
}

std::string encode_command(const ControlCommand& command) {
    if (command.verb == ControlCommand::Verb::start) return "start\n";
    return "kill " + std::to_string(command.signal) + "\n";
}

ControlCommand parse_command(const std::string& line) {
    std::string text = line;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text == "start") return {ControlCommand::Verb::start, 0};
    if (text.rfind("kill ", 0) == 0) {
        std::string number = text.substr(5);
        int signal = 0;
        bool digits = !number.empty() && number.size() <= 3;
        for (char c : number) {
            if (c < '0' || c > '9')
                digits = false;
            else
                signal = signal * 10 + (c - '0');
        }
        if (!digits || signal < 1 || signal > 64)
            throw invalid_argument("signal", "\"" + number + "\" is not a signal number 1..64");
        return {ControlCommand::Verb::kill, signal};
    }
    throw invalid_argument("command", "unknown monitor command \"" + text + "\"");
}

std::string encode_reply_ok() {
    return "ok\n";
}

std::string encode_reply_error(ErrorKind kind, const std::string& message) {
    std::string flat = message;
    for (char& c : flat)
        if (c == '\n' || c == '\r') c = ' ';
    return std::string("error ") + to_string(kind) + " " + flat + "\n";
}

void check_reply(const std::string& reply) {
    std::string text = reply;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text == "ok") return;
    if (text.rfind("error ", 0) == 0) {
        std::string rest = text.substr(6);
        auto space = rest.find(' ');
        std::string kind = rest.substr(0, space);
        std::string message = space == std::string::npos ? "" : rest.substr(space + 1);
        ErrorKind k = error_kind_from_string(kind);
        throw Error(k, k == ErrorKind::not_found ? ENOENT : EINVAL, message);
    }
    throw make_error(ErrorKind::system, "monitor sent a malformed reply: " + text);
}

ErrorKind error_kind_from_string(const std::string& kind) {
    for (ErrorKind k : {ErrorKind::invalid, ErrorKind::not_found, ErrorKind::conflict,
                        ErrorKind::unsupported, ErrorKind::system})
        if (kind == to_string(k)) return k;
    return ErrorKind::system;
}

namespace {

long long now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// Wait until fd is ready for `events` or the deadline passed.
void wait_ready(int fd, short events, long long deadline, const std::string& what) {
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) throw make_error(ErrorKind::system, what + ": monitor timed out", ETIMEDOUT);
        pollfd p{fd, events, 0};
        int n = poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw system_error("poll " + what);
        if (n > 0) return;
    }
}

}  // namespace

UnixSocketAddress::UnixSocketAddress(const std::string& path) {
    addr_.sun_family = AF_UNIX;
    std::string name = path;
    if (path.size() >= sizeof addr_.sun_path) {
        auto slash = path.rfind('/');
        if (slash == std::string::npos || slash == 0)
            throw make_error(ErrorKind::system, "socket path too long: " + path, ENAMETOOLONG);
        std::string dir = path.substr(0, slash);
        directory_ = Fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!directory_) throw system_error("open " + dir);
        name = "/proc/self/fd/" + std::to_string(directory_.get()) + path.substr(slash);
        if (name.size() >= sizeof addr_.sun_path)
            throw make_error(ErrorKind::system, "socket name too long: " + path, ENAMETOOLONG);
    }
    std::memcpy(addr_.sun_path, name.c_str(), name.size() + 1);
}

void send_monitor_command(const std::string& socket_path, const ControlCommand& command,
                          int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    UnixSocketAddress addr(socket_path);
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw system_error("socket");
    if (connect(fd.get(), addr.get(), addr.size()) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) throw system_error("connect " + socket_path);
        wait_ready(fd.get(), POLLOUT, deadline, "connect " + socket_path);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) throw system_error("connect " + socket_path, err);
    }
    std::string request = encode_command(command);
    size_t sent = 0;
    while (sent < request.size()) {
        wait_ready(fd.get(), POLLOUT, deadline, "send to " + socket_path);
        ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) throw system_error("send to " + socket_path);
        sent += static_cast<size_t>(n);
    }
    std::string reply;
    while (reply.find('\n') == std::string::npos) {
        wait_ready(fd.get(), POLLIN, deadline, "read from " + socket_path);
        char buf[512];
        ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) throw system_error("read from " + socket_path);
        if (n == 0) break;
        reply.append(buf, static_cast<size_t>(n));
        if (reply.size() > size_t{64} * 1024) break;
    }
    if (reply.empty())
        throw make_error(ErrorKind::system, "monitor at " + socket_path + " closed without reply");
    check_reply(reply.substr(0, reply.find('\n')));
}

}  // namespace truman::daemon
