// trumanctl's side of the API: synchronous HTTP/1.1 over trumand's Unix socket (Boost.Beast),
// one connection per request. Streams (logs -f, events) are handed over as they arrive.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace truman::client {

// trumand could not be reached (no socket, refused, permission, the connection broke).
class ConnectionError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

// trumand answered with an error status; what() is the daemon's message as sent.
class ApiError : public std::runtime_error {
  public:
    ApiError(unsigned status, std::string code, const std::string& message, std::string field = "")
        : std::runtime_error(message),
          status_(status),
          code_(std::move(code)),
          field_(std::move(field)) {}
    unsigned status() const noexcept { return status_; }
    const std::string& code() const noexcept { return code_; }
    // The request field the error is about, in the API's names ("resources.memory"); "" if
    // none. The message then starts with "<field>: ".
    const std::string& field() const noexcept { return field_; }
    // The message without its "<field>: " (the whole message when there is no field).
    std::string reason() const;

  private:
    unsigned status_;
    std::string code_;
    std::string field_;
};

// The error a non-2xx response stands for: the "message" of the API's {"error": {...}} body,
// else "HTTP <status>: <body>" (a proxy or something that is not trumand).
ApiError api_error(unsigned status, const std::string& body);

// Percent-encodes a path segment or query value (a container name is safe, a user typo may not be).
std::string url_encode(std::string_view text);

class ApiClient {
  public:
    explicit ApiClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

    // The body of a 2xx response ("" for 204). Throws ApiError / ConnectionError.
    std::string call(const std::string& method, const std::string& target,
                     const nlohmann::json* body = nullptr) const;
    nlohmann::json call_json(const std::string& method, const std::string& target,
                             const nlohmann::json* body = nullptr) const;

    // A streaming GET: on_data gets the body's bytes as they arrive, until the daemon ends
    // the stream. Throws ApiError (the stream was refused) / ConnectionError.
    // (POST for a stream a request starts: an image pull.)
    void stream(const std::string& target, const std::function<void(std::string_view)>& on_data,
                const std::string& method = "GET") const;

    // Same, cut into lines (without the '\n'); a last unterminated line is delivered too.
    void stream_lines(const std::string& target,
                      const std::function<void(const std::string&)>& on_line,
                      const std::string& method = "GET") const;

    // A request whose body source gives (fills buf, returns how many bytes, 0 at the end), sent
    // chunked as it comes (an image archive: never whole in memory); the 2xx response's
    // body. If trumand answers before the body is all sent (it refused it), that answer is
    // what counts. Throws ApiError / ConnectionError.
    std::string upload(const std::string& method, const std::string& target,
                       const std::string& content_type,
                       const std::function<size_t(char* buf, size_t size)>& source) const;

    const std::string& socket_path() const { return socket_path_; }

  private:
    std::string socket_path_;
};

}  // namespace truman::client
