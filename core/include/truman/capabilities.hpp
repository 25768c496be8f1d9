// Capabilities by name, turned into the bit masks the child applies with raw syscalls.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

struct CapabilityMasks {  // bit n = capability n
    uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
};

int capability_from_name(const std::string& name);  // "CAP_NET_ADMIN" -> 12; throws invalid
std::string capability_name(int cap);
int last_capability() noexcept;  // highest capability number this kernel knows

// Docker's default 14 capabilities.
const std::vector<std::string>& default_capabilities();

// The spec's sets (or the default set in bounding/effective/permitted, none inheritable/ambient).
CapabilityMasks capability_masks(const std::optional<Capabilities>& caps);

struct RlimitValue {
    int resource = 0;  // RLIMIT_NOFILE, ...
    struct rlimit value {};
};
int rlimit_from_name(const std::string& name);  // "RLIMIT_NOFILE"; throws invalid
std::vector<RlimitValue> rlimit_plan(const std::vector<Rlimit>& rlimits);

}  // namespace truman
