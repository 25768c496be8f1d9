// The rule for container names, in one place: the service checks a create's name with it, and
// a front-end may ask it first to refuse a bad name before calling the service.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace truman::daemon {

// Names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters (also safe as a path component).
constexpr size_t max_name_length = 128;
bool is_valid_name(std::string_view name);
// Throws truman::Error (invalid) naming the field: "name: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*".
void validate_name(const std::string& name, const std::string& field = "name");

}  // namespace truman::daemon
