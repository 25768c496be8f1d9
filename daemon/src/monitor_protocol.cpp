#include "truman/daemon/monitor_protocol.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "truman/daemon/names.hpp"
#include "truman/fd.hpp"
#include "truman/signal_names.hpp"

using nlohmann::json;

namespace truman::daemon {

namespace {

ErrorKind error_kind_from_string(const std::string& kind) {
    for (ErrorKind k : {ErrorKind::invalid, ErrorKind::not_found, ErrorKind::conflict,
                        ErrorKind::unsupported, ErrorKind::system})
        if (kind == to_string(k)) return k;
    return ErrorKind::system;  // from a newer monitor: still an error, and not the caller's
}

// One line: a message's text may hold anything (paths, container output), so invalid UTF-8
// is replaced rather than failing the encoding, and JSON escapes every newline.
std::string encode_line(const json& doc) {
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

json parse_line(const std::string& line) {
    std::string text = line;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return json::parse(text, nullptr, false);
}

std::string to_hex(const std::string& bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string from_hex(const json& doc, const char* name) {
    if (!doc.contains(name)) return "";
    if (!doc[name].is_string()) throw invalid_argument(name, "not a hex string");
    const std::string& hex = doc[name].get_ref<const std::string&>();
    auto value = [&](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw invalid_argument(name, "not a hex string");
    };
    if (hex.size() % 2) throw invalid_argument(name, "not a hex string");
    std::string out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2)
        out += static_cast<char>(value(hex[i]) * 16 + value(hex[i + 1]));
    return out;
}

json attach_to_json(const AttachRequest& a) {
    return {{"stdin", a.stdin_stream},
            {"stdout", a.stdout_stream},
            {"stderr", a.stderr_stream},
            {"detach_keys", to_hex(a.detach_keys)},
            {"input", to_hex(a.input)},
            {"handshake", to_hex(a.handshake)},
            {"logs", a.logs}};
}

AttachRequest attach_from_json(const json& doc) {
    if (!doc.is_object()) throw invalid_argument("attach", "not an object");
    auto flag = [&](const char* name, bool fallback) {
        if (!doc.contains(name)) return fallback;
        if (!doc[name].is_boolean()) throw invalid_argument(name, "not a boolean");
        return doc[name].get<bool>();
    };
    AttachRequest a;
    a.stdin_stream = flag("stdin", false);
    a.stdout_stream = flag("stdout", true);
    a.stderr_stream = flag("stderr", true);
    a.detach_keys = from_hex(doc, "detach_keys");
    a.input = from_hex(doc, "input");
    a.handshake = from_hex(doc, "handshake");
    a.logs = flag("logs", false);
    return a;
}

}  // namespace

std::string encode_reply(const MonitorReply& reply) {
    if (reply.error)
        return encode_line({{"error",
                             {{"kind", to_string(reply.error->kind())},
                              {"errno", reply.error->err()},
                              {"message", reply.error->what()}}}});
    json doc = {{"ok", true}};
    if (reply.pid) doc["pid"] = reply.pid;
    if (reply.monitor_pid) doc["monitor_pid"] = reply.monitor_pid;
    if (reply.exit_code) {
        doc["exit_code"] = *reply.exit_code;
        doc["signal"] = reply.signal;
    }
    return encode_line(doc);
}

MonitorReply parse_reply(const std::string& line) {
    json doc = parse_line(line);
    MonitorReply reply;
    try {
        if (doc.is_object() && doc.contains("error")) {
            const json& error = doc.at("error");
            reply.error.emplace(error_kind_from_string(error.at("kind").get<std::string>()),
                                error.at("errno").get<int>(),
                                error.at("message").get<std::string>());
            return reply;
        }
        if (doc.is_object() && doc.value("ok", false)) {
            reply.pid = doc.value("pid", pid_t{0});
            reply.monitor_pid = doc.value("monitor_pid", pid_t{0});
            if (doc.contains("exit_code")) {
                reply.exit_code = doc.at("exit_code").get<int>();
                reply.signal = doc.value("signal", 0);
            }
            return reply;
        }
    } catch (const json::exception&) {
    }
    throw make_error(ErrorKind::system, "monitor sent a malformed reply: " + line);
}

void throw_if_failed(const MonitorReply& reply) {
    if (reply.error) throw *reply.error;
}

MonitorReply failure_reply(const std::exception& failure) {
    if (const auto* error = dynamic_cast<const Error*>(&failure)) return {*error};
    return {Error(ErrorKind::system, 0, failure.what())};
}

std::string encode_command(const ControlCommand& command) {
    switch (command.verb) {
        case ControlCommand::Verb::start:
            return encode_line({{"command", "start"}});
        case ControlCommand::Verb::kill:
            return encode_line({{"command", "kill"}, {"signal", command.signal}});
        case ControlCommand::Verb::exec: {
            json doc = {{"command", "exec"}, {"exec", command.exec_id}};
            if (command.attach) doc["attach"] = attach_to_json(*command.attach);
            if (command.wait) doc["wait"] = true;
            return encode_line(doc);
        }
        case ControlCommand::Verb::attach: {
            json doc = attach_to_json(command.attach.value_or(AttachRequest{}));
            doc["command"] = "attach";
            return encode_line(doc);
        }
        case ControlCommand::Verb::wait_exec:
            return encode_line({{"command", "wait_exec"}, {"exec", command.exec_id}});
        case ControlCommand::Verb::resize: {
            json doc = {
                {"command", "resize"}, {"height", command.height}, {"width", command.width}};
            if (!command.exec_id.empty()) doc["exec"] = command.exec_id;
            return encode_line(doc);
        }
    }
    throw make_error(ErrorKind::invalid, "unknown monitor command");
}

ControlCommand parse_command(const std::string& line) {
    json doc = parse_line(line);
    if (!doc.is_object() || !doc.contains("command") || !doc["command"].is_string())
        throw invalid_argument("command", "not a monitor command: " + line);
    std::string verb = doc["command"].get<std::string>();
    if (verb == "start") return {ControlCommand::Verb::start, 0};
    if (verb == "kill") {
        const json* signal = doc.contains("signal") ? &doc["signal"] : nullptr;
        if (!signal || !signal->is_number_integer() || signal->get<long long>() < 1 ||
            signal->get<long long>() > 1024 || !is_signal_number(signal->get<int>()))
            throw invalid_argument("signal",
                                   unknown_signal_reason(signal ? signal->dump() : "none"));
        return {ControlCommand::Verb::kill, signal->get<int>()};
    }
    if (verb == "exec" || verb == "wait_exec") {
        const json* exec = doc.contains("exec") ? &doc["exec"] : nullptr;
        if (!exec || !exec->is_string() || !is_valid_id(exec->get<std::string>()))
            throw invalid_argument("exec", "not an exec id");
        ControlCommand command{
            verb == "exec" ? ControlCommand::Verb::exec : ControlCommand::Verb::wait_exec, 0,
            exec->get<std::string>()};
        if (verb == "exec" && doc.contains("attach"))
            command.attach = attach_from_json(doc["attach"]);
        if (verb == "exec" && doc.contains("wait")) {
            if (!doc["wait"].is_boolean()) throw invalid_argument("wait", "not a boolean");
            command.wait = doc["wait"].get<bool>();
        }
        return command;
    }
    if (verb == "attach") return {ControlCommand::Verb::attach, 0, "", attach_from_json(doc)};
    if (verb == "resize") {
        ControlCommand command{ControlCommand::Verb::resize};
        auto size = [&](const char* name) {
            const json* v = doc.contains(name) ? &doc[name] : nullptr;
            if (!v || !v->is_number_integer() || v->get<long long>() < 1 ||
                v->get<long long>() > 65535)
                throw invalid_argument(name, "not a terminal size in 1..65535");
            return v->get<unsigned>();
        };
        command.height = size("height");
        command.width = size("width");
        if (doc.contains("exec")) {
            const json& exec = doc["exec"];
            if (!exec.is_string() || !is_valid_id(exec.get<std::string>()))
                throw invalid_argument("exec", "not an exec id");
            command.exec_id = exec.get<std::string>();
        }
        return command;
    }
    throw invalid_argument("command", "unknown monitor command \"" + verb + "\"");
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
    ask_monitor(socket_path, command, timeout_ms);
}

MonitorReply ask_monitor(const std::string& socket_path, const ControlCommand& command,
                         int timeout_ms, int pass_fd) {
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
        ssize_t n;
        if (sent == 0 && pass_fd >= 0) {
            // The descriptor rides on the line's first bytes; the monitor takes it with them.
            iovec iov{const_cast<char*>(request.data()), request.size()};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
            n = sendmsg(fd.get(), &msg, MSG_NOSIGNAL);
        } else {
            n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        }
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
    MonitorReply parsed = parse_reply(reply.substr(0, reply.find('\n')));
    throw_if_failed(parsed);
    return parsed;
}

}  // namespace truman::daemon
