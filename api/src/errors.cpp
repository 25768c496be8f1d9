#include "truman/api/errors.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

namespace truman::api {

unsigned http_status(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::invalid:
            return 400;
        case ErrorKind::not_found:
            return 404;
        case ErrorKind::conflict:
            return 409;
        case ErrorKind::unsupported:
            return 400;
        case ErrorKind::system:
            return 500;
    }
    return 500;
}

Response error_response(unsigned status, const std::string& code, const std::string& message) {
    return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

Response error_response(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::system) spdlog::error("request failed: {}", e.what());
        nlohmann::json error = {{"code", to_string(e.kind())}, {"message", e.what()}};
        // The field apart, so that a client can name it its own way (trumanctl: --memory).
        if (!e.field().empty()) error["field"] = e.field();
        return json_response(http_status(e.kind()), {{"error", std::move(error)}});
    } catch (const nlohmann::json::exception& e) {
        // Only reachable if a handler lets a json access slip through unchecked; the input
        // was still the client's, so it is the client's error.
        return error_response(400, "invalid", e.what());
    } catch (const std::bad_alloc&) {
        spdlog::error("request failed: out of memory");
        return error_response(500, "internal", "out of memory");
    } catch (const std::exception& e) {
        spdlog::error("request failed: {}", e.what());
        return error_response(500, "internal", e.what());
    } catch (...) {
        spdlog::error("request failed: unknown exception");
        return error_response(500, "internal", "unknown error");
    }
}

}  // namespace truman::api
