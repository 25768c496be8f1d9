#include "truman/daemon/container_name.hpp"

#include "truman/error.hpp"

namespace truman::daemon {

namespace {

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_name_char(char c) {
    return is_name_start(c) || c == '_' || c == '.' || c == '-';
}

}  // namespace

bool is_valid_id(std::string_view id) {
    if (id.size() != 64) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool is_valid_name(std::string_view name) {
    if (name.empty() || name.size() > max_name_length || !is_name_start(name[0])) return false;
    for (char c : name)
        if (!is_name_char(c)) return false;
    return true;
}

void validate_name(const std::string& name, const std::string& field) {
    if (name.empty()) throw invalid_argument(field, "must not be empty");
    if (name.size() > max_name_length)
        throw invalid_argument(field,
                               "longer than " + std::to_string(max_name_length) + " characters");
    if (!is_valid_name(name))
        throw invalid_argument(field, "\"" + name + "\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]*");
    // A reference is tried as a whole id before a name, so such a name could never be found.
    if (is_valid_id(name))
        throw invalid_argument(field, "must not be 64 hexadecimal digits: that is an id");
}

}  // namespace truman::daemon
