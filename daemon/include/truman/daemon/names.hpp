// Container ids and generated names, and resolving what a user typed ("ref") to one
// container. The rule for a valid name is the service interface's (container_name.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "truman/daemon/container_name.hpp"

namespace truman::daemon {

// 64 lowercase hex characters from getrandom(2) (is_valid_id: container_name.hpp).
std::string generate_id();

// "adjective_noun", or "truman_<8 hex>" when the few tries all hit taken names.
std::string generate_name(const std::function<bool(const std::string&)>& taken);

// resolve_ref's errors, out of line.
[[noreturn]] void throw_empty_ref();
[[noreturn]] void throw_ambiguous_ref(const std::string& ref, size_t matches);
[[noreturn]] void throw_unknown_ref(const std::string& ref);

// The id that ref means: a full id, an exact name, or a unique id prefix of at least 4
// characters, in that order of precedence. by_id is a map keyed by id (sorted: a prefix is
// found by lower_bound, not a scan), id_by_name maps each name to its container's id.
// Throws truman::Error: not_found for no match, invalid for an ambiguous prefix.
template <typename ById>
std::string resolve_ref(const std::string& ref, const ById& by_id,
                        const std::map<std::string, std::string>& id_by_name) {
    if (ref.empty()) throw_empty_ref();
    if (by_id.count(ref)) return ref;
    if (auto it = id_by_name.find(ref); it != id_by_name.end()) return it->second;
    if (ref.size() >= 4 && ref.size() < 64) {
        size_t matches = 0;
        auto first = by_id.lower_bound(ref);
        for (auto it = first; it != by_id.end() && it->first.compare(0, ref.size(), ref) == 0; ++it)
            ++matches;
        if (matches > 1) throw_ambiguous_ref(ref, matches);
        if (matches == 1) return first->first;
    }
    throw_unknown_ref(ref);
}

}  // namespace truman::daemon
