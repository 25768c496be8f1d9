// Container ids and generated names, and resolving what a user typed ("ref") to one
// container. The rule for a valid name is the service interface's (container_name.hpp).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "truman/daemon/container_name.hpp"

namespace truman::daemon {

// 64 lowercase hex characters from getrandom(2).
std::string generate_id();
bool is_valid_id(std::string_view id);

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
