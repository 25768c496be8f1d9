// Errors on the wire: {"error": {"code": "...", "message": "...", "field": "..."}} with the
// HTTP status that the truman::Error kind implies; "field" (the body field or parameter the
// error is about, which "message" then starts with) only when there is one. The only place
// that maps kinds to statuses.
#pragma once

#include <exception>
#include <string>

#include "truman/api/http.hpp"
#include "truman/error.hpp"

namespace truman::api {

// invalid -> 400, not_found -> 404, conflict -> 409, unsupported -> 400, system -> 500.
unsigned http_status(ErrorKind kind) noexcept;

// An error response with an explicit code ("not_found", "method_not_allowed", ...).
Response error_response(unsigned status, const std::string& code, const std::string& message);

// Whatever was thrown, as a response: truman::Error by its kind, nlohmann::json errors as 400
// "invalid", anything else as 500 "internal" (logged: it is a bug or a real fault).
Response error_response(const std::exception_ptr& error);

}  // namespace truman::api
