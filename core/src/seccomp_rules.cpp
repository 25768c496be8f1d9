// The rules of an OCI linux.seccomp profile, checked by validate() before anything is
// compiled: actions and errnoRet, architectures, syscall names, argument conditions. Names
// are resolved through libseccomp's own tables, as compile_seccomp() resolves them, so a
// profile that passes here compiles on this machine.
//
// compile_seccomp() (seccomp.cpp) still checks the same things while it compiles; it should
// ask this file instead (seccomp_rules.hpp; left for the seccomp.cpp rework).
#include "seccomp_rules.hpp"

#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string_view>

#include "truman/error.hpp"
#include "truman/seccomp.hpp"

namespace truman {

namespace {

constexpr uint32_t kMaxErrno = 4095;  // the kernel's MAX_ERRNO; SECCOMP_RET_DATA is wider

void validate_action(const std::string& action, const std::optional<uint32_t>& errno_ret,
                     const std::string& field, const std::string& errno_field) {
    static constexpr std::string_view actions[] = {
        "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG"};
    if (action == "SCMP_ACT_NOTIFY")
        throw unsupported_argument(field,
                                   "SCMP_ACT_NOTIFY is not supported (truman's monitor owns the "
                                   "listener to record denials)");
    if (std::find(std::begin(actions), std::end(actions), action) == std::end(actions))
        throw invalid_argument(field, "unknown action \"" + action + "\"");
    if (!errno_ret) return;
    if (action != "SCMP_ACT_ERRNO" && action != "SCMP_ACT_TRACE")
        throw invalid_argument(errno_field, "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
    if (*errno_ret > kMaxErrno)
        throw invalid_argument(errno_field, "must be at most " + std::to_string(kMaxErrno));
}

void validate_rule(const SeccompRule& rule, const std::string& item) {
    validate_action(rule.action, rule.errno_ret, item + ".action", item + ".errnoRet");
    if (rule.names.empty()) throw invalid_argument(item + ".names", "must not be empty");
    for (size_t i = 0; i < rule.names.size(); ++i)
        seccomp_syscall_number(rule.names[i], index_path(item + ".names", i));
    static constexpr std::string_view ops[] = {"SCMP_CMP_NE",       "SCMP_CMP_LT", "SCMP_CMP_LE",
                                               "SCMP_CMP_EQ",       "SCMP_CMP_GE", "SCMP_CMP_GT",
                                               "SCMP_CMP_MASKED_EQ"};
    for (size_t j = 0; j < rule.args.size(); ++j) {
        const SeccompArg& arg = rule.args[j];
        std::string arg_item = index_path(item + ".args", j);
        // A syscall has at most six arguments.
        if (arg.index > 5) throw invalid_argument(arg_item + ".index", "must be between 0 and 5");
        if (std::find(std::begin(ops), std::end(ops), arg.op) == std::end(ops))
            throw invalid_argument(arg_item + ".op", "unknown operator \"" + arg.op + "\"");
    }
}

}  // namespace

uint32_t seccomp_architecture_token(const std::string& name, const std::string& field) {
    const std::string prefix = "SCMP_ARCH_";
    uint32_t token = 0;
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size()) {
        std::string lower = name.substr(prefix.size());
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        token = seccomp_arch_resolve_name(lower.c_str());
    }
    if (token == 0) throw invalid_argument(field, "unknown architecture \"" + name + "\"");
    return token;
}

int seccomp_syscall_number(const std::string& name, const std::string& field) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) throw invalid_argument(field, "unknown syscall \"" + name + "\"");
    return nr;
}

void validate_seccomp(const Linux& l) {
    if (!l.seccomp) return;
    if (l.seccomp_disabled) {
        throw invalid_argument("linux.seccomp", "conflicts with truman.seccompDisabled");
    }
    const Seccomp& profile = *l.seccomp;
    validate_action(profile.default_action, profile.default_errno_ret,
                    "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet");
    for (size_t i = 0; i < profile.architectures.size(); ++i)
        seccomp_architecture_token(profile.architectures[i],
                                   index_path("linux.seccomp.architectures", i));
    for (size_t i = 0; i < profile.syscalls.size(); ++i)
        validate_rule(profile.syscalls[i], index_path("linux.seccomp.syscalls", i));
}

}  // namespace truman
