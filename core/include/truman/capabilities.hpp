// Capabilities by name, turned into the bit masks the child applies with raw syscalls.
// (rlimits, prepared the same way, have their own concern: truman/rlimits.hpp.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "truman/spec.hpp"

namespace truman {

struct CapabilityMasks {  // bit n = capability n
    uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
};

// "CAP_NET_ADMIN" -> 12. Throws truman::Error naming field: invalid for a name that is not
// an OCI capability name, unsupported for one this kernel does not have.
int capability_from_name(const std::string& name, const std::string& field = "capability");
std::string capability_name(int cap);
int last_capability() noexcept;  // highest capability number this kernel knows

// Docker's default 14 capabilities.
const std::vector<std::string>& default_capabilities();

// The spec's sets (or the default set in bounding/effective/permitted, none inheritable/ambient).
// Throws truman::Error naming the process.capabilities field: an unknown name, or a set the
// kernel would refuse at capset time (effective outside permitted, ambient outside both
// permitted and inheritable).
CapabilityMasks capability_masks(const std::optional<Capabilities>& caps);

// The rules of process.capabilities for validate(): capability_masks() without the masks.
void validate_capabilities(const std::optional<Capabilities>& caps);

}  // namespace truman
