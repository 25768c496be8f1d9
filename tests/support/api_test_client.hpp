// A small blocking HTTP/1.1 client over a Unix socket, for the API's tests (unit and
// integration): raw enough to send malformed requests, keep a connection alive, and read
// chunked streams line by line.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace truman::test {

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

class HttpClient {
  public:
    explicit HttpClient(const std::string& path) {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket");
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            int err = errno;
            close(fd_);
            throw std::runtime_error("connect " + path + ": " + std::strerror(err));
        }
    }
    ~HttpClient() {
        if (fd_ >= 0) close(fd_);
    }
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    int fd() const { return fd_; }

    void send_raw(const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            }
            off += static_cast<size_t>(n);
        }
    }

    void send(const std::string& method, const std::string& target, const std::string& body = "",
              const std::string& content_type = "application/json", bool keep_alive = true) {
        std::string req = method + " " + target + " HTTP/1.1\r\nHost: truman\r\n";
        if (!body.empty() || method == "POST") {
            if (!content_type.empty()) req += "Content-Type: " + content_type + "\r\n";
            req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        }
        if (!keep_alive) req += "Connection: close\r\n";
        send_raw(req + "\r\n" + body);
    }

    HttpResponse request(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::string& content_type = "application/json") {
        send(method, target, body, content_type);
        return read_response();
    }

    // Reads one response; for a chunked one, the whole stream (until the last chunk or EOF).
    HttpResponse read_response(int timeout_ms = 30000) {
        HttpResponse r = read_head(timeout_ms);
        if (r.header("transfer-encoding") == "chunked") {
            while (true) {
                std::string chunk;
                if (!read_chunk(&chunk, timeout_ms)) break;
                r.body += chunk;
            }
        } else if (!r.header("content-length").empty()) {
            size_t length = std::stoul(r.header("content-length"));
            r.body = take(length, timeout_ms);
        }
        return r;
    }

    // The status line and headers only (for streams read chunk by chunk afterwards).
    HttpResponse read_head(int timeout_ms = 30000) {
        size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(timeout_ms)) throw std::runtime_error("connection closed before a response");
        std::string head = buffer_.substr(0, end);
        buffer_.erase(0, end + 4);
        HttpResponse r;
        size_t line_end = head.find("\r\n");
        std::string status_line = head.substr(0, line_end);
        r.status = std::stoi(status_line.substr(9, 3));
        size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
            size_t next = head.find("\r\n", pos);
            if (next == std::string::npos) next = head.size();
            std::string line = head.substr(pos, next - pos);
            size_t colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                for (char& c : name)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                std::string value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                r.headers[name] = value;
            }
            pos = next + 2;
        }
        return r;
    }

    // One chunk of a chunked body; false at the last chunk or EOF.
    bool read_chunk(std::string* data, int timeout_ms = 30000) {
        size_t end;
        while ((end = buffer_.find("\r\n")) == std::string::npos)
            if (!fill(timeout_ms)) return false;
        size_t size = std::stoul(buffer_.substr(0, end), nullptr, 16);
        buffer_.erase(0, end + 2);
        if (size == 0) {
            take(2, timeout_ms);
            return false;
        }
        *data = take(size, timeout_ms);
        take(2, timeout_ms);
        return true;
    }

    // What was read past the last response's head or body and not consumed yet (after a
    // "101" the first bytes of the upgraded stream).
    std::string take_buffered() { return std::exchange(buffer_, {}); }

    // True when the server closed the connection (EOF) within timeout_ms.
    bool closed_by_peer(int timeout_ms) {
        while (true) {
            pollfd p{fd_, POLLIN, 0};
            int n = poll(&p, 1, timeout_ms);
            if (n <= 0) return false;
            char c[4096];
            ssize_t got = recv(fd_, c, sizeof c, 0);
            if (got <= 0) return true;
            buffer_.append(c, static_cast<size_t>(got));
        }
    }

  private:
    bool fill(int timeout_ms) {
        pollfd p{fd_, POLLIN, 0};
        int n = poll(&p, 1, timeout_ms);
        if (n == 0) throw std::runtime_error("timed out waiting for the server");
        char c[16384];
        ssize_t got = recv(fd_, c, sizeof c, 0);
        if (got <= 0) return false;
        buffer_.append(c, static_cast<size_t>(got));
        return true;
    }
    std::string take(size_t n, int timeout_ms) {
        while (buffer_.size() < n)
            if (!fill(timeout_ms)) throw std::runtime_error("connection closed mid-body");
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, n);
        return out;
    }

    int fd_ = -1;
    std::string buffer_;
};

}  // namespace truman::test
