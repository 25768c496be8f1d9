// The HTTP vocabulary shared by the router and the handlers, free of Beast: a parsed request,
// a complete response, and the Responder through which a handler answers -- at once, later
// from a service callback, or as a chunked stream. Only the session (server.cpp) knows
// sockets; handlers see nothing but these types, so they are unit tested without any I/O.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "truman/daemon/subscription.hpp"
#include "truman/fd.hpp"

namespace truman::api {

// A request body read as it arrives, for the routes added with Router::add_streaming (an
// image import may be gigabytes: it is never whole in memory). Called from the handler's
// own thread, never from an io thread: read blocks.
class BodyStream {
  public:
    virtual ~BodyStream() = default;
    // Up to size bytes, waiting for the client; 0 once the body is complete. Throws
    // truman::Error when it cannot be complete: the client left, or it exceeds the limit.
    virtual size_t read(void* buf, size_t size) = 0;
};

// A response body produced on a thread of the handler's (Responder::open_output). write
// blocks while the client is slow, so a large body never piles up in memory.
class OutputStream {
  public:
    virtual ~OutputStream() = default;
    // Throws truman::Error when the client is gone.
    virtual void write(const void* data, size_t size) = 0;
    // The body is complete. Destroyed without it, the response ends abruptly (the client
    // sees a truncated body, never a complete-looking one).
    virtual void finish() = 0;
};

struct Request {
    std::string method;                              // "GET", "POST", ...
    std::string target;                              // as sent: "/v1/containers?state=running"
    std::string path;                                // "/v1/containers"
    std::map<std::string, std::string> query;        // percent-decoded; last one wins
    std::map<std::string, std::string> path_params;  // filled by the router: {"id": ...}
    std::string content_type;                        // the Content-Type header, "" if none
    std::string body;
    // Instead of body, for streaming routes: the body as it arrives.
    std::shared_ptr<BodyStream> body_stream;
    // The Upgrade header when Connection names "upgrade" (lower-cased: "tcp"), else "".
    std::string upgrade;

    // A query parameter, or nullopt when absent.
    std::optional<std::string> param(const std::string& name) const;
};

struct Response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra ones, e.g. Allow
};

Response json_response(unsigned status, const nlohmann::json& body);
Response text_response(unsigned status, std::string text);
Response empty_response(unsigned status);  // 204

// A whole HTTP/1.1 response as bytes, with Connection: close: how the taker of an upgraded
// connection refuses it before it wrote the 101.
std::string response_bytes(const Response& response);
// "HTTP/1.1 404 Not Found\r\n": the first line of response_bytes and of a stream's head.
std::string status_line(unsigned status);

// How a handler answers. Every method may be called from any thread (service callbacks run on
// io threads); the implementation serialises them onto the connection's strand, in call order.
// A handler calls respond() exactly once, or open_stream() followed by chunks and end_stream().
class Responder {
  public:
    virtual ~Responder() = default;

    virtual void respond(Response response) = 0;

    // Streaming (chunked transfer encoding). Nothing reaches the wire before the first chunk
    // or end_stream(), so a handler may still respond() with an error after open_stream()
    // when the service call that feeds the stream throws.
    virtual void open_stream(unsigned status, std::string content_type) = 0;
    virtual void chunk(std::string data) = 0;
    virtual void end_stream() = 0;
    // The subscription feeding the stream: cancelled and released when the stream ends, the
    // client goes away or the server shuts down. Handing it over also sends the header (the
    // service call succeeded, so the stream is established).
    virtual void keep(std::unique_ptr<daemon::Subscription> subscription) = 0;

    // A chunked response whose body is written, blocking, from another thread: status and
    // content_type go out at once. The default (a responder that cannot) throws.
    virtual std::shared_ptr<OutputStream> open_output(unsigned status, std::string content_type);

    // An upgraded connection (attach): instead of a response, the connection leaves HTTP and
    // take gets the socket, the bytes the client sent behind its request, and head, the
    // "101 UPGRADED" response (content_type, Connection: Upgrade, Upgrade: tcp). Nothing has
    // been written yet: take writes head only once whoever carries the streams holds the
    // connection, so that nothing written in between is lost; if it cannot, it answers with
    // response_bytes() instead. The default (a responder that cannot upgrade) answers 501.
    using TakeConnection =
        std::function<void(Fd connection, std::string pending, std::string head)>;
    virtual void upgrade(const std::string& content_type, const TakeConnection& take);
};

}  // namespace truman::api
