#include "truman/client/api_client.hpp"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <limits>
#include <vector>

namespace truman::client {

namespace net = boost::asio;
namespace http = boost::beast::http;
using stream_socket = net::local::stream_protocol::socket;

ApiError api_error(unsigned status, const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
        const auto& e = j["error"];
        std::string code = e.value("code", "");
        std::string message = e.value("message", "");
        std::string field = e.value("field", "");
        if (!message.empty()) return ApiError(status, code, message, field);
    }
    std::string text = body;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return ApiError(status, "",
                    "HTTP " + std::to_string(status) + (text.empty() ? "" : ": " + text));
}

std::string ApiError::reason() const {
    std::string message = what();
    std::string prefix = field_ + ": ";
    if (!field_.empty() && message.rfind(prefix, 0) == 0) return message.substr(prefix.size());
    return message;
}

std::string url_encode(std::string_view text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

namespace {

// One connection: Beast's sync client over an AF_UNIX stream socket.
struct Connection {
    net::io_context io;
    stream_socket socket{io};
    boost::beast::flat_buffer buffer;
    const std::string& path;

    explicit Connection(const std::string& socket_path) : path(socket_path) {
        boost::system::error_code ec;
        socket.connect(net::local::stream_protocol::endpoint(path), ec);
        if (ec)
            throw ConnectionError("cannot connect to trumand at " + path + ": " + ec.message() +
                                  " — is trumand running?");
    }

    [[noreturn]] void broken(const char* what, const boost::system::error_code& ec) const {
        throw ConnectionError("connection to trumand at " + path + " failed while " + what + ": " +
                              ec.message());
    }

    void send(const std::string& method, const std::string& target, const nlohmann::json* body) {
        http::request<http::string_body> request{http::string_to_verb(method), target, 11};
        request.set(http::field::host, "truman");
        request.set(http::field::user_agent, "trumanctl");
        request.keep_alive(false);
        if (body) {
            request.set(http::field::content_type, "application/json");
            request.body() = body->dump();
        }
        request.prepare_payload();
        boost::system::error_code ec;
        http::write(socket, request, ec);
        if (ec) broken("sending the request", ec);
    }
};

// `ps -a` and logs may be large and the daemon is trusted. Not boost::none: Beast 1.74
// compares a Content-Length against the optional limit with `len > limit`, which is true for
// an empty optional, so every fixed-length response would fail with "body limit exceeded".
void no_body_limit(http::response_parser<http::string_body>& parser) {
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

bool success(unsigned status) {
    return status >= 200 && status < 300;
}

}  // namespace

std::string ApiClient::call(const std::string& method, const std::string& target,
                            const nlohmann::json* body) const {
    Connection c(socket_path_);
    c.send(method, target, body);
    http::response_parser<http::string_body> parser;
    no_body_limit(parser);
    boost::system::error_code ec;
    http::read(c.socket, c.buffer, parser, ec);
    if (ec) c.broken("reading the response", ec);
    auto& response = parser.get();
    if (!success(response.result_int())) throw api_error(response.result_int(), response.body());
    return response.body();
}

nlohmann::json ApiClient::call_json(const std::string& method, const std::string& target,
                                    const nlohmann::json* body) const {
    std::string text = call(method, target, body);
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        throw ConnectionError("trumand at " + socket_path_ + " sent malformed JSON for " + target);
    return j;
}

void ApiClient::stream(const std::string& target,
                       const std::function<void(std::string_view)>& on_data,
                       const std::string& method) const {
    Connection c(socket_path_);
    c.send(method, target, nullptr);
    http::response_parser<http::string_body> parser;
    no_body_limit(parser);
    boost::system::error_code ec;
    http::read_header(c.socket, c.buffer, parser, ec);
    if (ec) c.broken("reading the response", ec);
    unsigned status = parser.get().result_int();
    if (!success(status)) {
        http::read(c.socket, c.buffer, parser, ec);
        if (ec) c.broken("reading the response", ec);
        throw api_error(status, parser.get().body());
    }
    // Chunks go straight to the caller as they arrive instead of into the body.
    std::function<size_t(uint64_t, boost::string_view, boost::system::error_code&)> on_chunk =
        [&](uint64_t, boost::string_view data, boost::system::error_code&) {
            on_data(std::string_view(data.data(), data.size()));
            return data.size();
        };
    parser.on_chunk_body(on_chunk);
    http::read(c.socket, c.buffer, parser, ec);
    if (ec) c.broken("reading the stream", ec);
    if (!parser.chunked() && !parser.get().body().empty()) on_data(parser.get().body());
}

std::string ApiClient::upload(const std::string& method, const std::string& target,
                              const std::string& content_type,
                              const std::function<size_t(char*, size_t)>& source) const {
    Connection c(socket_path_);
    boost::system::error_code ec;
    std::string head = method + " " + target +
                       " HTTP/1.1\r\nHost: truman\r\nUser-Agent: trumanctl\r\nConnection: "
                       "close\r\nContent-Type: " +
                       content_type + "\r\nTransfer-Encoding: chunked\r\n\r\n";
    net::write(c.socket, net::buffer(head), ec);
    std::vector<char> buf(size_t{1} << 20);
    // A write error means trumand stopped reading (and answered): read what it said.
    while (!ec) {
        size_t n = source(buf.data(), buf.size());
        char size_line[32];
        int len = snprintf(size_line, sizeof size_line, "%zx\r\n", n);
        std::array<net::const_buffer, 3> chunk = {net::buffer(size_line, static_cast<size_t>(len)),
                                                  net::buffer(buf.data(), n),
                                                  net::buffer("\r\n", 2)};
        net::write(c.socket, chunk, ec);
        if (n == 0) break;  // "0\r\n\r\n": the last chunk
    }
    http::response_parser<http::string_body> parser;
    no_body_limit(parser);
    boost::system::error_code read_ec;
    http::read(c.socket, c.buffer, parser, read_ec);
    if (read_ec) c.broken(ec ? "sending the request" : "reading the response", ec ? ec : read_ec);
    auto& response = parser.get();
    if (!success(response.result_int())) throw api_error(response.result_int(), response.body());
    return response.body();
}

void ApiClient::stream_lines(const std::string& target,
                             const std::function<void(const std::string&)>& on_line,
                             const std::string& method) const {
    std::string pending;
    stream(
        target,
        [&](std::string_view data) {
            pending.append(data);
            size_t start = 0, nl;
            while ((nl = pending.find('\n', start)) != std::string::npos) {
                on_line(pending.substr(start, nl - start));
                start = nl + 1;
            }
            pending.erase(0, start);
        },
        method);
    if (!pending.empty()) on_line(pending);
}

}  // namespace truman::client
