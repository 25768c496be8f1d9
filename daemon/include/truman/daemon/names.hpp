// Container ids and names, and resolving what a user typed ("ref") to one container.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace truman::daemon {

// 64 lowercase hex characters from getrandom(2).
std::string generate_id();
bool is_valid_id(std::string_view id);

// Names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters (also safe as a path component).
constexpr size_t max_name_length = 128;
bool is_valid_name(std::string_view name);
// Throws truman::Error (invalid) naming the field: "name: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*".
void validate_name(const std::string& name, const std::string& field = "name");

// "adjective_noun", or "truman_<8 hex>" when the few tries all hit taken names.
std::string generate_name(const std::function<bool(const std::string&)>& taken);

struct IdAndName {
    std::string id;
    std::string name;
};

// The id that ref means: a full id, an exact name, or a unique id prefix of at least 4
// characters, in that order of precedence. Throws truman::Error: not_found for no match,
// invalid for an ambiguous prefix.
std::string resolve_ref(const std::string& ref, const std::vector<IdAndName>& containers);

}  // namespace truman::daemon
