#include "truman/error.hpp"

#include <cstring>

namespace truman {

const char* to_string(ErrorKind kind) noexcept {
    switch (kind) {
        case ErrorKind::invalid:
            return "invalid";
        case ErrorKind::not_found:
            return "not_found";
        case ErrorKind::conflict:
            return "conflict";
        case ErrorKind::unsupported:
            return "unsupported";
        case ErrorKind::system:
            return "system";
    }
    return "system";
}

std::string errno_text(int err) {
    return std::generic_category().message(err);  // strerror_r underneath
}

Error make_error(ErrorKind kind, const std::string& what, int err) {
    if (err == 0) return Error(kind, 0, what);
    return Error(kind, err, what + ": " + errno_text(err));
}

std::string field_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

Error invalid_argument(const std::string& field, const std::string& why) {
    return Error(ErrorKind::invalid, EINVAL, field, why);
}

Error unsupported_argument(const std::string& field, const std::string& why) {
    return Error(ErrorKind::unsupported, 0, field, why);
}

Error system_error(const std::string& what, int err) {
    return make_error(ErrorKind::system, what, err);
}

}  // namespace truman
