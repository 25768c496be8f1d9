// Method + path pattern -> handler. Patterns are literal segments and "{name}" placeholders
// ("/v1/containers/{id}/start"); a placeholder matches one non-empty segment and lands in
// Request::path_params. An unknown path answers 404; a known path with another method answers
// 405 with an Allow header listing the methods it does have.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "truman/api/http.hpp"

namespace truman::api {

using Handler = std::function<void(Request&, std::shared_ptr<Responder>)>;

class Router {
  public:
    void add(std::string method, std::string pattern, Handler handler);
    // A route whose handler gets the body as a stream (Request::body_stream), up to the
    // server's max_stream_body_bytes, instead of whole.
    void add_streaming(std::string method, std::string pattern, Handler handler);
    bool streams_body(const std::string& method, const std::string& path) const;

    // Runs the matching handler, or answers 404/405. Anything the handler throws becomes a JSON
    // error response (errors.hpp): nothing escapes.
    void dispatch(Request& request, const std::shared_ptr<Responder>& responder) const;

    // The "Allow" value for a path: "GET, DELETE"; "" when no route matches the path.
    std::string allowed_methods(const std::string& path) const;

    // Every (method, pattern) registered, in order: lets a test hold openapi.yaml to the truth.
    std::vector<std::pair<std::string, std::string>> routes() const;

  private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        Handler handler;
        bool streams_body = false;
    };
    static bool match(const Route& route, const std::vector<std::string>& segments,
                      std::map<std::string, std::string>* params);
    std::vector<Route> routes_;
};

// "/v1/containers/abc" -> {"v1", "containers", "abc"}. Empty segments (//) are kept, so they
// never match a placeholder.
std::vector<std::string> split_path(const std::string& path);

// "a%20b+c" -> "a b c" for query strings; false when a %-escape is malformed.
bool percent_decode(const std::string& in, std::string* out, bool plus_is_space);

// Split a request target into path and decoded query. Throws truman::Error (invalid) naming
// the malformed part.
void parse_target(const std::string& target, std::string* path,
                  std::map<std::string, std::string>* query);

}  // namespace truman::api
