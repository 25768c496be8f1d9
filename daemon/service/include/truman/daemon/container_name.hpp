// The rule for container names, in one place: the service checks a create's name with it, and
// a front-end may ask it first to refuse a bad name before calling the service.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace truman::daemon {

// Ids: 64 lower-case hex characters.
bool is_valid_id(std::string_view id);

// Names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters (also safe as a path component).
constexpr size_t max_name_length = 128;
bool is_valid_name(std::string_view name);
// Throws truman::Error (invalid) naming the field: "name: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*".
// A new name must also not be an id: references are tried as a whole id first. is_valid_name
// still accepts one, so a container stored before this rule still loads.
void validate_name(const std::string& name, const std::string& field = "name");

}  // namespace truman::daemon
