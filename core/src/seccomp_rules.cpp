// The rules of an OCI linux.seccomp profile, checked by validate() before anything is
// compiled: actions and errnoRet, architectures, syscall names, argument conditions. Names
// are resolved through libseccomp's own tables, as compile_seccomp() resolves them, so a
// profile that passes here compiles on this machine.
// compile_seccomp() asks the same functions (seccomp_rules.hpp) while it compiles.
#include "seccomp_rules.hpp"

#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <string_view>

#include "truman/error.hpp"
#include "truman/seccomp.hpp"

namespace truman {

namespace {

constexpr uint32_t kMaxErrno = 4095;  // the kernel's MAX_ERRNO; SECCOMP_RET_DATA is wider

void validate_rule(const SeccompRule& rule, const std::string& item) {
    parse_seccomp_action(rule.action, rule.errno_ret, item + ".action", item + ".errnoRet");
    if (rule.names.empty()) throw invalid_argument(item + ".names", "must not be empty");
    for (size_t i = 0; i < rule.names.size(); ++i)
        seccomp_syscall_number(rule.names[i], index_path(item + ".names", i));
    for (size_t j = 0; j < rule.args.size(); ++j) {
        const SeccompArg& arg = rule.args[j];
        std::string arg_item = index_path(item + ".args", j);
        // A syscall has at most six arguments.
        if (arg.index > 5) throw invalid_argument(arg_item + ".index", "must be between 0 and 5");
        seccomp_operator(arg.op, arg_item + ".op");
    }
}

}  // namespace

SeccompAction parse_seccomp_action(const std::string& name,
                                   const std::optional<uint32_t>& errno_ret,
                                   const std::string& field, const std::string& errno_field) {
    using K = SeccompAction::Kind;
    static const std::pair<const char*, K> table[] = {
        {"SCMP_ACT_ALLOW", K::allow},
        {"SCMP_ACT_ERRNO", K::errno_ret},
        {"SCMP_ACT_KILL", K::kill_thread},
        {"SCMP_ACT_KILL_THREAD", K::kill_thread},
        {"SCMP_ACT_KILL_PROCESS", K::kill_process},
        {"SCMP_ACT_TRAP", K::trap},
        {"SCMP_ACT_LOG", K::log},
        {"SCMP_ACT_TRACE", K::trace},
    };
    if (name == "SCMP_ACT_NOTIFY")
        throw unsupported_argument(field,
                                   "SCMP_ACT_NOTIFY is not supported (truman's monitor owns the "
                                   "listener to record denials)");
    for (const auto& [text, kind] : table) {
        if (name != text) continue;
        if (errno_ret && kind != K::errno_ret && kind != K::trace)
            throw invalid_argument(errno_field,
                                   "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
        if (errno_ret && *errno_ret > kMaxErrno)
            throw invalid_argument(errno_field, "must be at most " + std::to_string(kMaxErrno));
        uint32_t data = kind == K::errno_ret ? errno_ret.value_or(EPERM) : errno_ret.value_or(0);
        return SeccompAction{kind, data};
    }
    throw invalid_argument(field, "unknown action \"" + name + "\"");
}

void require_learnable(const SeccompAction& default_action) {
    if (default_action.kind != SeccompAction::Kind::errno_ret)
        throw unsupported_argument("linux.seccomp.defaultAction",
                                   "learning mode needs an allowlist profile (SCMP_ACT_ERRNO)");
}

scmp_compare seccomp_operator(const std::string& name, const std::string& field) {
    static const std::pair<const char*, scmp_compare> table[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    for (const auto& [text, op] : table)
        if (name == text) return op;
    throw invalid_argument(field, "unknown operator \"" + name + "\"");
}

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
    if (l.seccomp_learn && l.seccomp_disabled)
        throw invalid_argument("truman.seccompLearn", "conflicts with truman.seccompDisabled");
    if (!l.seccomp) return;
    if (l.seccomp_disabled) {
        throw invalid_argument("linux.seccomp", "conflicts with truman.seccompDisabled");
    }
    const Seccomp& profile = *l.seccomp;
    SeccompAction default_action =
        parse_seccomp_action(profile.default_action, profile.default_errno_ret,
                             "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet");
    if (l.seccomp_learn) require_learnable(default_action);
    for (size_t i = 0; i < profile.architectures.size(); ++i)
        seccomp_architecture_token(profile.architectures[i],
                                   index_path("linux.seccomp.architectures", i));
    for (size_t i = 0; i < profile.syscalls.size(); ++i)
        validate_rule(profile.syscalls[i], index_path("linux.seccomp.syscalls", i));
}

}  // namespace truman
