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
}

}  // namespace truman::daemon
