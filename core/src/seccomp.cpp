// Seccomp profiles compiled to BPF with libseccomp in the parent; denials answered by a
// user-notification listener so that the monitor can record them.
//
// How ERRNO actions become recorded denials
// -----------------------------------------
// The kernel's SECCOMP_RET_USER_NOTIF carries no data, so the listener only learns the syscall
// number (and arch) of a notified call, never which rule matched. The errno to answer is
// therefore kept per syscall number (SeccompProgram::notify_errno, else default_notify_errno),
// and an ERRNO outcome is compiled as NOTIFY only when that lookup gives the right errno:
//   - the default action, if ERRNO, is NOTIFY with default_notify_errno;
//   - a rule's ERRNO is NOTIFY if every notified path of that syscall answers the same errno
//     (the default's, when the default can still be reached for it, or the first ERRNO rule's);
//     a rule whose errno would conflict is compiled as a plain SCMP_ACT_ERRNO (answered by the
//     kernel, not recorded) so that the answer is always the one the profile asks for.
// Exceptions that are never notified, answered by the kernel at once:
//   - clone3: the C library probes it and falls back to clone only on ENOSYS; a profile that
//     does not mention clone3 gets ENOSYS for it unless its default allows (as runc does);
//   - socketcall: on x86 libseccomp turns every socket rule into socketcall rules of its own
//     as well, and refuses them (EEXIST) next to a notifying socketcall rule, so a profile
//     with both a socketcall denial and socket rules could not be compiled;
//   - in learning mode, the errno rules of a syscall the profile allows unconditionally:
//     its notifications are all let through (see truman/seccomp.hpp);
//   - the calls the container's first process makes between loading the filter and execve
//     (detail::kSyscallsAfterSeccomp in core/src/child_confine.hpp): the listener fd only reaches
//     the monitor at the end of that window, so a notified call there would wait for an answer that
//     never comes. Their denials are answered with the right errno but not recorded.
#include "truman/seccomp.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "child_confine.hpp"
#include "seccomp_rules.hpp"
#include "truman/error.hpp"
#include "truman/fd.hpp"

namespace truman {
namespace {

using Action = SeccompAction;

uint32_t libseccomp_action(const Action& action) {
    using K = Action::Kind;
    switch (action.kind) {
        case K::allow:
            return SCMP_ACT_ALLOW;
        case K::errno_ret:
            return SCMP_ACT_ERRNO(action.data);
        case K::kill_thread:
            return SCMP_ACT_KILL;
        case K::kill_process:
            return SCMP_ACT_KILL_PROCESS;
        case K::trap:
            return SCMP_ACT_TRAP;
        case K::log:
            return SCMP_ACT_LOG;
        case K::trace:
            return SCMP_ACT_TRACE(action.data);
    }
    return SCMP_ACT_KILL_PROCESS;
}

// A rule after validation: names resolved, conditions converted.
struct ResolvedRule {
    std::string field;  // "linux.seccomp.syscalls[3]"
    Action action;
    std::vector<std::pair<std::string, int>> syscalls;  // name, native number (or pseudo)
    std::vector<scmp_arg_cmp> conditions;
};

ResolvedRule resolve_rule(const SeccompRule& rule, size_t index) {
    ResolvedRule out;
    out.field = "linux.seccomp.syscalls[" + std::to_string(index) + "]";
    out.action = parse_seccomp_action(rule.action, rule.errno_ret, out.field + ".action",
                                      out.field + ".errnoRet");
    if (rule.names.empty()) throw invalid_argument(out.field + ".names", "must not be empty");
    for (size_t i = 0; i < rule.names.size(); ++i)
        out.syscalls.emplace_back(
            rule.names[i],
            seccomp_syscall_number(rule.names[i], out.field + ".names[" + std::to_string(i) + "]"));
    for (size_t i = 0; i < rule.args.size(); ++i) {
        const SeccompArg& arg = rule.args[i];
        std::string field = out.field + ".args[" + std::to_string(i) + "]";
        if (arg.index > 5) throw invalid_argument(field + ".index", "must be between 0 and 5");
        // OCI (and runc) pass value and valueTwo to libseccomp as datum_a and datum_b; for
        // SCMP_CMP_MASKED_EQ libseccomp reads them as (arg & datum_a) == datum_b, so "value"
        // is the mask and "valueTwo" the expected result.
        out.conditions.push_back(scmp_arg_cmp{arg.index, seccomp_operator(arg.op, field + ".op"),
                                              arg.value, arg.value_two});
    }
    return out;
}

// libseccomp rejects two conditions on the same argument in one rule; like runc, such a rule
// becomes one rule per condition.
std::vector<std::vector<scmp_arg_cmp>> condition_chains(const std::vector<scmp_arg_cmp>& conds) {
    std::set<unsigned> seen;
    bool repeated = false;
    for (const auto& c : conds) repeated |= !seen.insert(c.arg).second;
    if (!repeated) return {conds};
    std::vector<std::vector<scmp_arg_cmp>> chains;
    chains.reserve(conds.size());
    for (const auto& c : conds) chains.push_back({c});
    return chains;
}

struct FilterContext {
    scmp_filter_ctx ctx;
    explicit FilterContext(uint32_t default_action) : ctx(seccomp_init(default_action)) {
        if (!ctx) throw system_error("seccomp_init", ENOMEM);
    }
    ~FilterContext() { seccomp_release(ctx); }
    FilterContext(const FilterContext&) = delete;
    FilterContext& operator=(const FilterContext&) = delete;
};

std::vector<sock_filter> export_bpf(scmp_filter_ctx ctx) {
    Fd mem(::memfd_create("truman-seccomp-bpf", MFD_CLOEXEC));
    if (!mem) throw system_error("memfd_create for the seccomp program");
    if (int rc = seccomp_export_bpf(ctx, mem.get()); rc < 0)
        throw system_error("seccomp_export_bpf", -rc);
    struct stat st {};
    if (::fstat(mem.get(), &st) < 0) throw system_error("fstat seccomp program memfd");
    if (st.st_size <= 0 || st.st_size % sizeof(sock_filter) != 0)
        throw system_error(
            "seccomp_export_bpf: unexpected program size " + std::to_string(st.st_size), EPROTO);
    if (st.st_size / sizeof(sock_filter) > BPF_MAXINSNS)
        throw make_error(ErrorKind::unsupported,
                         "linux.seccomp: compiled program has " +
                             std::to_string(st.st_size / sizeof(sock_filter)) +
                             " instructions, more than the kernel's limit of " +
                             std::to_string(BPF_MAXINSNS));
    std::vector<sock_filter> program(st.st_size / sizeof(sock_filter));
    auto* out = reinterpret_cast<char*>(program.data());
    size_t done = 0, total = static_cast<size_t>(st.st_size);
    while (done < total) {
        ssize_t n = ::pread(mem.get(), out + done, total - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw system_error("read back the seccomp program", n < 0 ? errno : EIO);
        done += static_cast<size_t>(n);
    }
    return program;
}

// Between loading the filter and execve the container's first process makes only the calls
// that child_confine.hpp lists next to the code that makes them. See the comment at the top of this
// file.
const std::set<std::string>& pre_exec_syscalls() {
    static const std::set<std::string> names(std::begin(detail::kSyscallsAfterSeccomp),
                                             std::end(detail::kSyscallsAfterSeccomp));
    return names;
}

// The first line of a small /proc file, without its newline; "" if it cannot be read.
std::string read_proc_line(const std::string& path, const char* prefix = nullptr) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    char buf[4096];
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string text(buf, static_cast<size_t>(n));
    size_t start = 0;
    if (prefix) {
        size_t at = text.find(std::string("\n") + prefix);
        if (at == std::string::npos) return {};
        start = at + 1 + std::strlen(prefix);
    }
    size_t end = text.find('\n', start);
    return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The innermost PID of a thread: the last field of NSpid in /proc/<pid>/status.
pid_t innermost_pid(pid_t pid) {
    std::string line = read_proc_line("/proc/" + std::to_string(pid) + "/status", "NSpid:");
    auto last = line.find_last_of(" \t");
    std::string field = last == std::string::npos ? line : line.substr(last + 1);
    if (field.empty() || field.find_first_not_of("0123456789") != std::string::npos) return 0;
    return static_cast<pid_t>(std::stol(field));
}

}  // namespace

std::string seccomp_arch_name(uint32_t audit_arch) {
    // libseccomp knows the names; ask it for each rather than keep a second table.
    static const char* const names[] = {
        "x86",    "x86_64",   "x32",       "arm",         "aarch64", "mips",  "mipsel",
        "mips64", "mipsel64", "mips64n32", "mipsel64n32", "ppc",     "ppc64", "ppc64le",
        "s390",   "s390x",    "parisc",    "parisc64",    "riscv64"};
    for (const char* name : names)
        if (seccomp_arch_resolve_name(name) == audit_arch) return name;
    char buf[32];
    std::snprintf(buf, sizeof buf, "arch_0x%x", audit_arch);
    return buf;
}

SeccompProgram compile_seccomp(const Seccomp& profile, bool learn) {
    // Also makes libseccomp probe the kernel for SCMP_ACT_NOTIFY before it is used.
    const bool notify_supported = seccomp_api_get() >= 5;
    auto require_notify = [&] {
        if (!notify_supported)
            throw make_error(ErrorKind::unsupported,
                             "linux.seccomp: recording denials needs seccomp user notification "
                             "(Linux 5.0 and libseccomp API level 5)");
    };

    const Action default_action =
        parse_seccomp_action(profile.default_action, profile.default_errno_ret,
                             "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet");
    std::vector<uint32_t> arches;
    for (size_t i = 0; i < profile.architectures.size(); ++i)
        arches.push_back(seccomp_architecture_token(
            profile.architectures[i], "linux.seccomp.architectures[" + std::to_string(i) + "]"));
    std::vector<ResolvedRule> rules;
    for (size_t i = 0; i < profile.syscalls.size(); ++i)
        rules.push_back(resolve_rule(profile.syscalls[i], i));

    if (learn) require_learnable(default_action);
    SeccompProgram program;
    const bool default_errno = default_action.kind == Action::Kind::errno_ret;
    uint32_t default_scmp = libseccomp_action(default_action);
    if (default_errno) {
        require_notify();
        default_scmp = SCMP_ACT_NOTIFY;
        program.needs_listener = true;
        program.default_notify_errno = static_cast<int>(default_action.data);
    }

    const int clone3_nr = seccomp_syscall_resolve_name("clone3");
    std::set<int> never_notified{clone3_nr, seccomp_syscall_resolve_name("socketcall")};
    for (const auto& name : pre_exec_syscalls())
        never_notified.insert(seccomp_syscall_resolve_name(name.c_str()));

    // Which syscalls a rule mentions at all, and which unconditionally (the default action can
    // no longer be reached for those).
    std::set<int> mentioned, unconditional;
    for (const auto& rule : rules)
        for (const auto& [name, nr] : rule.syscalls) {
            mentioned.insert(nr);
            if (rule.conditions.empty()) unconditional.insert(nr);
        }

    // Learning mode: what the profile allows unconditionally is notified (and let through).
    if (learn) {
        for (const auto& rule : rules)
            if (rule.action.kind == Action::Kind::allow && rule.conditions.empty())
                for (const auto& [name, nr] : rule.syscalls)
                    if (!never_notified.count(nr)) program.learn_nrs.insert(nr);
        program.needs_listener = true;
    }

    // The one errno each notified syscall is answered with (see the top of this file).
    std::map<int, int> answered;
    auto compiled_action = [&](const Action& action, int nr) -> uint32_t {
        // The same action as the default: the rule is left out, which changes nothing, since
        // every call of a learned number is notified and let through.
        if (program.learn_nrs.count(nr))
            return action.kind == Action::Kind::allow ? SCMP_ACT_NOTIFY : libseccomp_action(action);
        if (action.kind != Action::Kind::errno_ret || never_notified.count(nr))
            return libseccomp_action(action);
        int err = static_cast<int>(action.data);
        auto it = answered.find(nr);
        if (it == answered.end()) {
            bool default_reachable = default_errno && !unconditional.count(nr);
            int first = default_reachable ? program.default_notify_errno : err;
            it = answered.emplace(nr, first).first;
        }
        if (it->second != err) return libseccomp_action(action);
        require_notify();
        program.needs_listener = true;
        return SCMP_ACT_NOTIFY;
    };

    FilterContext filter(default_scmp);
    for (uint32_t arch : arches) {
        int rc = seccomp_arch_add(filter.ctx, arch);
        if (rc < 0 && rc != -EEXIST) throw system_error("seccomp_arch_add", -rc);
    }
    size_t rules_added = 0;
    auto add_rule = [&](const std::string& field, const std::string& name, uint32_t action, int nr,
                        const std::vector<scmp_arg_cmp>& chain) {
        // libseccomp refuses a rule that repeats the default action; it changes nothing.
        if (action == default_scmp) return;
        int rc = seccomp_rule_add_array(filter.ctx, action, nr, chain.size(), chain.data());
        ++rules_added;
        if (rc < 0)
            throw invalid_argument(
                field, "cannot add rule for syscall \"" + name + "\": " + errno_text(-rc));
    };
    for (const auto& rule : rules)
        for (const auto& [name, nr] : rule.syscalls)
            for (const auto& chain : condition_chains(rule.conditions))
                add_rule(rule.field, name, compiled_action(rule.action, nr), nr, chain);

    const bool default_denies =
        default_action.kind != Action::Kind::allow && default_action.kind != Action::Kind::log;
    if (default_denies && !mentioned.count(clone3_nr))
        add_rule("linux.seccomp", "clone3", SCMP_ACT_ERRNO(ENOSYS), clone3_nr, {});
    if (default_errno)
        for (const auto& name : pre_exec_syscalls()) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (!mentioned.count(nr))
                add_rule("linux.seccomp", name, SCMP_ACT_ERRNO(default_action.data), nr, {});
        }

    for (const auto& [nr, err] : answered)
        if (err != program.default_notify_errno) program.notify_errno[nr] = err;
    // A binary tree of syscall numbers instead of a linear list keeps long allow-lists fast
    // and within BPF_MAXINSNS on three architectures. Only with rules: libseccomp up to 2.5.4
    // generates a broken tree for an empty filter.
    if (rules_added > 32) seccomp_attr_set(filter.ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    program.filter = export_bpf(filter.ctx);
    return program;
}

SeccompNotifier::SeccompNotifier(int listener_fd, SeccompProgram program)
    : fd_(listener_fd), program_(std::move(program)) {
    // libseccomp's notify calls answer EOPNOTSUPP until it has probed the kernel; a monitor
    // process that never compiled a filter has not.
    seccomp_api_get();
}

SeccompNotifier::~SeccompNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<BlockedSyscall> SeccompNotifier::handle_one() {
    struct seccomp_notif* req = nullptr;
    struct seccomp_notif_resp* resp = nullptr;
    if (int rc = seccomp_notify_alloc(&req, &resp); rc < 0)
        throw system_error("seccomp_notify_alloc", -rc);
    std::unique_ptr<seccomp_notif, void (*)(seccomp_notif*)> req_guard(
        req, [](seccomp_notif* p) { seccomp_notify_free(p, nullptr); });
    std::unique_ptr<seccomp_notif_resp, void (*)(seccomp_notif_resp*)> resp_guard(
        resp, [](seccomp_notif_resp* p) { seccomp_notify_free(nullptr, p); });

    // Newer kernels insist on a zeroed request buffer.
    std::memset(req, 0, sizeof *req);
    errno = 0;
    if (seccomp_notify_receive(fd_, req) < 0) {
        // libseccomp folds the ioctl's errno into ECANCELED but leaves errno alone. ENOENT:
        // the target was killed after the notification was queued.
        if (errno == ENOENT) return std::nullopt;
        throw system_error("seccomp notification receive on fd " + std::to_string(fd_));
    }

    uint32_t arch = req->data.arch;
    // x32 calls arrive with x86_64's audit arch and __X32_SYSCALL_BIT set in the number.
    if (arch == SCMP_ARCH_X86_64 && (req->data.nr & 0x40000000)) arch = SCMP_ARCH_X32;
    // Learning mode, a call let through before: answered at once, nothing to report.
    if (continued_.count({arch, req->data.nr})) {
        let_through(req->id);
        return std::nullopt;
    }

    BlockedSyscall blocked;
    blocked.pid = static_cast<pid_t>(req->pid);
    blocked.nr = req->data.nr;
    blocked.when = std::chrono::system_clock::now();
    for (size_t i = 0; i < blocked.args.size(); ++i) blocked.args[i] = req->data.args[i];
    int native_nr = req->data.nr;
    blocked.arch = seccomp_arch_name(arch);
    if (char* name = seccomp_syscall_resolve_num_arch(arch, req->data.nr)) {
        blocked.name = name;
        std::free(name);
        // notify_errno is keyed by native numbers; a 32-bit or x32 caller's number differs.
        if (arch != seccomp_arch_native())
            native_nr = seccomp_syscall_resolve_name(blocked.name.c_str());
    } else {
        blocked.name = "syscall_" + std::to_string(req->data.nr);
    }
    if (program_.learn_nrs.count(native_nr)) {
        continued_.insert({arch, req->data.nr});
        let_through(req->id);
        blocked.learned = true;
        return blocked;  // made, even if the caller died before it ran
    }
    // The caller waits for our answer, so its /proc entry is its own; the id check below
    // proves that it still is (a PID reused in between would fail it).
    blocked.comm = read_proc_line("/proc/" + std::to_string(blocked.pid) + "/comm");
    blocked.ns_pid = innermost_pid(blocked.pid);
    auto it = program_.notify_errno.find(native_nr);
    int err = it != program_.notify_errno.end() ? it->second : program_.default_notify_errno;

    // The target may have died since the receive; its id is then no longer valid.
    if (seccomp_notify_id_valid(fd_, req->id) < 0) return std::nullopt;
    std::memset(resp, 0, sizeof *resp);
    resp->id = req->id;
    resp->val = 0;
    resp->error = -err;
    blocked.error = err;
    resp->flags = 0;
    errno = 0;
    if (seccomp_notify_respond(fd_, resp) < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw system_error("seccomp notification respond (" + blocked.name + ")");
    }
    return blocked;
}

// CONTINUE is safe here although seccomp_unotify(2) warns against it: the verdict rests on the
// syscall number alone, never on memory the caller could change before the kernel runs it.
void SeccompNotifier::let_through(uint64_t id) {
    struct seccomp_notif_resp resp {};
    resp.id = id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    errno = 0;
    if (seccomp_notify_respond(fd_, &resp) < 0 && errno != ENOENT)
        throw system_error("seccomp notification respond (continue)");
}

}  // namespace truman
