// A response as the bytes of HTTP/1.1, for the connections Beast no longer holds: an upgraded
// one refused before its 101, and the head of a stream. It includes Beast's status header only,
// for the reason phrases, so that the request-path fuzzer links it without the server.
#include <boost/beast/http/status.hpp>
#include <string>

#include "truman/api/http.hpp"

namespace truman::api {

std::string status_line(unsigned status) {
    namespace http = boost::beast::http;
    return "HTTP/1.1 " + std::to_string(status) + " " +
           std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
}

std::string response_bytes(const Response& response) {
    std::string out = status_line(response.status) + "Content-Type: " + response.content_type +
                      "\r\nContent-Length: " + std::to_string(response.body.size()) +
                      "\r\nConnection: close\r\nServer: trumand\r\n";
    for (const auto& [name, value] : response.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "\r\n";
    out += response.body;
    return out;
}

}  // namespace truman::api
