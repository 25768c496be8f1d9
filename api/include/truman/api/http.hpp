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

struct Request {
    std::string method;                              // "GET", "POST", ...
    std::string target;                              // as sent: "/v1/containers?state=running"
    std::string path;                                // "/v1/containers"
    std::map<std::string, std::string> query;        // percent-decoded; last one wins
    std::map<std::string, std::string> path_params;  // filled by the router: {"id": ...}
    std::string content_type;                        // the Content-Type header, "" if none
    std::string body;
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

    // An upgraded connection (attach): instead of a response, "101 UPGRADED" with
    // content_type (Connection: Upgrade, Upgrade: tcp), after which the connection is no
    // longer HTTP; take then gets the socket and the bytes the client sent behind its request,
    // and owns both. The default (a responder that cannot) answers 501.
    using TakeConnection = std::function<void(Fd connection, std::string pending)>;
    virtual void upgrade(const std::string& content_type, const TakeConnection& take);
};

}  // namespace truman::api
