// rlimit names -> a flat plan, prepared in the parent so that the child only calls prlimit
// with ready numbers (see truman/rlimits.hpp).
#include "truman/rlimits.hpp"

#include <set>

#include "truman/error.hpp"
#include "truman/spec.hpp"

namespace truman {

int rlimit_from_name(const std::string& name, const std::string& field) {
    static const std::pair<const char*, int> table[] = {
        {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
        {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    };
    for (const auto& [text, resource] : table)
        if (name == text) return resource;
    throw invalid_argument(field, "unknown rlimit type \"" + name + "\"");
}

std::vector<RlimitValue> rlimit_plan(const std::vector<Rlimit>& rlimits) {
    std::vector<RlimitValue> plan;
    std::set<int> seen;
    for (size_t i = 0; i < rlimits.size(); ++i) {
        const Rlimit& limit = rlimits[i];
        const std::string field = "process.rlimits[" + std::to_string(i) + "]";
        int resource = rlimit_from_name(limit.type, field + ".type");
        if (!seen.insert(resource).second)
            throw invalid_argument(field + ".type", "duplicate " + limit.type);
        if (limit.soft > limit.hard)
            throw invalid_argument(field + ".soft", "soft limit " + std::to_string(limit.soft) +
                                                        " exceeds hard limit " +
                                                        std::to_string(limit.hard));
        RlimitValue value;
        value.resource = resource;
        value.value.rlim_cur = static_cast<rlim_t>(limit.soft);
        value.value.rlim_max = static_cast<rlim_t>(limit.hard);
        plan.push_back(value);
    }
    return plan;
}

void validate_rlimits(const std::vector<Rlimit>& rlimits) {
    rlimit_plan(rlimits);
}

}  // namespace truman
