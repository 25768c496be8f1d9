// Resource limits (OCI process.rlimits) by name, turned into the flat plan the child applies
// with prlimit(2): names resolved and the kernel's rules checked in the parent, where an error
// can still say which entry is wrong.
#pragma once

#include <sys/resource.h>

#include <string>
#include <vector>

namespace truman {

struct Rlimit;

struct RlimitValue {
    int resource = 0;  // RLIMIT_NOFILE, ...
    struct rlimit value {};
};

// "RLIMIT_NOFILE" -> RLIMIT_NOFILE. Throws truman::Error (invalid) naming field.
int rlimit_from_name(const std::string& name, const std::string& field = "rlimit");

// One entry per process.rlimits entry, in order. Throws truman::Error (invalid) naming the
// entry: an unknown type, a type given twice, soft above hard (setrlimit's EINVAL).
std::vector<RlimitValue> rlimit_plan(const std::vector<Rlimit>& rlimits);

// The rules of process.rlimits for validate(): rlimit_plan() without the plan.
void validate_rlimits(const std::vector<Rlimit>& rlimits);

}  // namespace truman
