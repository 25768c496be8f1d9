#include "truman/api/router.hpp"

#include <nlohmann/json.hpp>

#include "truman/api/errors.hpp"
#include "truman/error.hpp"

namespace truman::api {

std::optional<std::string> Request::param(const std::string& name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
}

Response json_response(unsigned status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    r.content_type = "application/json";
    // Replace rather than throw on invalid UTF-8 (a container name can't hold it, but log text
    // or a file path from the service might): a response must always be producible.
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

Response text_response(unsigned status, std::string text) {
    Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(text);
    return r;
}

// By value, as the overrides move it into the stream.
std::shared_ptr<OutputStream> Responder::open_output(
    unsigned, std::string) {  // NOLINT(performance-unnecessary-value-param)
    throw make_error(ErrorKind::unsupported, "this connection cannot stream a response body");
}

Response empty_response(unsigned status) {
    Response r;
    r.status = status;
    r.content_type.clear();
    return r;
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    size_t pos = 0;
    if (!path.empty() && path[0] == '/') pos = 1;
    while (true) {
        size_t slash = path.find('/', pos);
        out.push_back(path.substr(pos, slash == std::string::npos ? slash : slash - pos));
        if (slash == std::string::npos) break;
        pos = slash + 1;
    }
    return out;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool percent_decode(const std::string& in, std::string* out, bool plus_is_space) {
    out->clear();
    out->reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out->push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out->push_back(' ');
        } else {
            out->push_back(c);
        }
    }
    return true;
}

void parse_target(const std::string& target, std::string* path,
                  std::map<std::string, std::string>* query) {
    size_t q = target.find('?');
    std::string raw_path = target.substr(0, q);
    if (raw_path.empty() || raw_path[0] != '/')
        throw invalid_argument("path", "must start with '/'");
    if (!percent_decode(raw_path, path, false))
        throw invalid_argument("path", "malformed %-escape");
    query->clear();
    if (q == std::string::npos) return;
    std::string rest = target.substr(q + 1);
    size_t pos = 0;
    while (pos <= rest.size()) {
        size_t amp = rest.find('&', pos);
        std::string pair = rest.substr(pos, amp == std::string::npos ? amp : amp - pos);
        if (!pair.empty()) {
            size_t eq = pair.find('=');
            std::string key, value;
            if (!percent_decode(pair.substr(0, eq), &key, true) ||
                (eq != std::string::npos && !percent_decode(pair.substr(eq + 1), &value, true)))
                throw invalid_argument("query", "malformed %-escape in \"" + pair + "\"");
            (*query)[key] = value;
        }
        if (amp == std::string::npos) break;
        pos = amp + 1;
    }
}

void Router::add(std::string method, std::string pattern, Handler handler) {
    auto segments = split_path(pattern);
    routes_.push_back(
        Route{std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
}

void Router::add_streaming(std::string method, std::string pattern, Handler handler) {
    add(std::move(method), std::move(pattern), std::move(handler));
    routes_.back().streams_body = true;
}

bool Router::streams_body(const std::string& method, const std::string& path) const {
    auto segments = split_path(path);
    for (const Route& route : routes_)
        if (route.method == method && match(route, segments, nullptr)) return route.streams_body;
    return false;
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Route& route : routes_) out.emplace_back(route.method, route.pattern);
    return out;
}

bool Router::match(const Route& route, const std::vector<std::string>& segments,
                   std::map<std::string, std::string>* params) {
    // One "{name*}" takes one or more segments, slashes and all (image references); fixed
    // segments may follow it ("/v1/images/{ref*}/tag"): they match the path's last ones.
    auto is_rest = [](const std::string& s) {
        return s.size() > 3 && s.front() == '{' && s.compare(s.size() - 2, 2, "*}") == 0;
    };
    size_t rest = route.segments.size();
    for (size_t i = 0; i < route.segments.size(); ++i)
        if (is_rest(route.segments[i])) rest = i;
    bool has_rest = rest < route.segments.size();
    if (has_rest ? segments.size() < route.segments.size()
                 : route.segments.size() != segments.size())
        return false;
    // Route segment i matches path segment at(i): the ones after the rest count from the end.
    size_t extra = segments.size() - route.segments.size();
    auto at = [&](size_t i) { return has_rest && i > rest ? i + extra : i; };
    std::map<std::string, std::string> found;
    if (has_rest) {
        std::string joined;
        for (size_t i = rest; i <= rest + extra; ++i) {
            if (segments[i].empty()) return false;
            joined += (i == rest ? "" : "/") + segments[i];
        }
        const std::string& name = route.segments[rest];
        found[name.substr(1, name.size() - 3)] = joined;
    }
    for (size_t i = 0; i < route.segments.size(); ++i) {
        if (i == rest) continue;
        const std::string& want = route.segments[i];
        const std::string& have = segments[at(i)];
        if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
            if (have.empty()) return false;
            found[want.substr(1, want.size() - 2)] = have;
        } else if (want != have) {
            return false;
        }
    }
    if (params) *params = std::move(found);
    return true;
}

std::string Router::allowed_methods(const std::string& path) const {
    auto segments = split_path(path);
    std::string allow;
    for (const Route& route : routes_) {
        if (!match(route, segments, nullptr)) continue;
        if (allow.find(route.method) != std::string::npos) continue;
        if (!allow.empty()) allow += ", ";
        allow += route.method;
    }
    return allow;
}

void Router::dispatch(Request& request, const std::shared_ptr<Responder>& responder) const {
    try {
        auto segments = split_path(request.path);
        for (const Route& route : routes_) {
            if (route.method != request.method) continue;
            if (!match(route, segments, &request.path_params)) continue;
            route.handler(request, responder);
            return;
        }
        std::string allow = allowed_methods(request.path);
        if (allow.empty()) {
            responder->respond(error_response(
                404, "not_found", "no such endpoint: " + request.method + " " + request.path));
            return;
        }
        Response r = error_response(
            405, "method_not_allowed",
            request.method + " is not allowed on " + request.path + " (allowed: " + allow + ")");
        r.headers.emplace_back("Allow", allow);
        responder->respond(std::move(r));
    } catch (...) {
        responder->respond(error_response(std::current_exception()));
    }
}

}  // namespace truman::api
